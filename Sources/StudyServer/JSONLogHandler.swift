import Foundation
import Logging

/// Log lines as JSON, one object per line on standard error (`--log-format json`): `time` (ISO 8601, UTC, milliseconds),
/// `level`, `label`, `message`, and `metadata` when there is any (a request's lines carry `request.id`). For log
/// collectors that parse lines; the text format stays the default for a person at a terminal.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String,
        line: UInt
    ) {
        var object: [String: Any] = [
            "time": Self.timestamp(Date()), "level": level.rawValue, "label": label, "message": message.description,
        ]
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        if !merged.isEmpty { object["metadata"] = merged.mapValues(Self.json) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Each line in one write(2), so that lines of concurrent requests do not interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        line.utf8CString.withUnsafeBufferPointer { buffer in _ = Foundation.write(2, buffer.baseAddress, buffer.count - 1) }
    }
}
