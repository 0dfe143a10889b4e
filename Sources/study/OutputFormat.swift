import ArgumentParser
import Foundation

/// How the team, leaderboard and report commands print a table: aligned columns, CSV or JSON.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, csv, json }

func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

func render(_ header: [String], _ rows: [[String]], as format: OutputFormat, rightAligned: Set<Int> = []) -> String {
    switch format {
    case .csv: return ([header] + rows).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n")
    default: return Terminal.table(header, rows, rightAligned: rightAligned)
    }
}
