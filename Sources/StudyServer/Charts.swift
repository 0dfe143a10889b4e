import Foundation

/// The dashboard's pictures: inline SVG drawn here, on the server, with no script. Each chart is an `img` to assistive
/// technology, named by its `<title>` and described by its `<desc>`; each bar carries its value in a `<title>` of its
/// own (a tooltip), and every page prints the same numbers in a table beside the chart. Colours come from the
/// stylesheet's classes. Every text that reaches the SVG is escaped here (`Markup.escape`): the pages insert charts
/// unescaped.
enum Chart {
    struct Bar {
        var label: String
        var value: Double
        /// The bar's tooltip.
        var note: String
        /// A stylesheet class: "bar", "good", "bad", "warn".
        var style = "bar"
        /// What `rows` prints beside the bar, when not its value (a dash for a question no one answered).
        var text: String? = nil
    }

    /// Vertical bars over days (answers per day, what falls due), with an optional second series drawn as points on a
    /// 0–100 % scale (accuracy). `tick` labels every n-th bar.
    static func columns(
        id: String, title: String, description: String, bars: [Bar], percentages: [Double?] = [], percentLabel: String = "", tick: Int = 7
    ) -> String {
        let width = 640.0
        let height = 220.0
        let left = 40.0
        let right = percentages.isEmpty ? 10.0 : 44.0
        let top = 12.0
        let bottom = 28.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let peak = max(bars.map(\.value).max() ?? 0, 1)
        let scale = niceCeiling(peak)
        let slot = bars.isEmpty ? plotWidth : plotWidth / Double(bars.count)
        var svg = open(id: id, title: title, description: description, width: width, height: height)
        // The left axis: counts.
        svg += line(left, top + plotHeight, width - right, top + plotHeight, style: "axis")
        for fraction in [0.0, 0.5, 1.0] {
            let y = top + plotHeight * (1 - fraction)
            if fraction > 0 { svg += line(left, y, width - right, y, style: "grid") }
            svg += text(left - 6, y + 4, format(scale * fraction), anchor: "end")
        }
        for (index, bar) in bars.enumerated() {
            let x = left + Double(index) * slot
            let h = plotHeight * bar.value / scale
            svg +=
                "<rect class=\"\(bar.style)\" x=\"\(f(x + slot * 0.15))\" y=\"\(f(top + plotHeight - h))\" width=\"\(f(slot * 0.7))\" "
                + "height=\"\(f(h))\"><title>\(Markup.escape(bar.note))</title></rect>"
            if index % max(tick, 1) == 0 { svg += text(x + slot / 2, height - 10, bar.label, anchor: "middle") }
        }
        if !percentages.isEmpty {
            // The right axis: 0–100 %.
            for fraction in [0.0, 0.5, 1.0] {
                svg += text(width - right + 6, top + plotHeight * (1 - fraction) + 4, "\(Int(fraction * 100)) %", anchor: "start")
            }
            let points = percentages.enumerated().compactMap { index, value in
                value.map { (left + (Double(index) + 0.5) * slot, top + plotHeight * (1 - min(max($0, 0), 1))) }
            }
            if points.count > 1 {
                svg += "<polyline class=\"series\" points=\"\(points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " "))\"/>"
            }
            for (index, value) in percentages.enumerated() {
                guard let value else { continue }
                let x = left + (Double(index) + 0.5) * slot
                svg +=
                    "<circle class=\"point\" cx=\"\(f(x))\" cy=\"\(f(top + plotHeight * (1 - min(max(value, 0), 1))))\" r=\"3\">"
                    + "<title>\(Markup.escape("\(bars[safe: index]?.label ?? ""): \(percentLabel) \(percent(value))"))</title></circle>"
            }
        }
        return svg + "</svg>"
    }

    /// Horizontal bars, one row per item, on a fixed domain: 0…1 (facility) or −1…1 (discrimination, drawn from a
    /// zero line), or 0…the largest value (how often each option was chosen).
    static func rows(id: String, title: String, description: String, bars: [Bar], domain: ClosedRange<Double>?, valueText: (Double) -> String)
        -> String
    {
        let width = 640.0
        let rowHeight = 22.0
        let labelWidth = 220.0
        let valueWidth = 60.0
        let top = 6.0
        let height = top * 2 + rowHeight * Double(max(bars.count, 1)) + 16
        let plotLeft = labelWidth + 8
        let plotWidth = width - plotLeft - valueWidth
        let lower = domain?.lowerBound ?? 0
        let upper = domain?.upperBound ?? niceCeiling(max(bars.map(\.value).max() ?? 0, 1))
        func x(_ value: Double) -> Double { plotLeft + plotWidth * (min(max(value, lower), upper) - lower) / (upper - lower) }
        let zero = x(0)
        var svg = open(id: id, title: title, description: description, width: width, height: height)
        for (index, bar) in bars.enumerated() {
            let y = top + Double(index) * rowHeight
            svg += text(labelWidth, y + rowHeight * 0.65, truncated(bar.label, 34), anchor: "end")
            let end = x(bar.value)
            svg +=
                "<rect class=\"\(bar.style)\" x=\"\(f(min(zero, end)))\" y=\"\(f(y + 3))\" width=\"\(f(max(abs(end - zero), 1)))\" "
                + "height=\"\(f(rowHeight - 6))\"><title>\(Markup.escape(bar.note))</title></rect>"
            svg += text(width - valueWidth + 6, y + rowHeight * 0.65, bar.text ?? valueText(bar.value), anchor: "start")
        }
        let axisY = top + rowHeight * Double(max(bars.count, 1))
        svg += line(plotLeft, axisY, plotLeft + plotWidth, axisY, style: "axis")
        svg += line(zero, top, zero, axisY, style: "axis")
        for tick in domain == nil ? [lower, upper] : [lower, (lower + upper) / 2, upper] {
            svg += text(x(tick), axisY + 14, valueText(tick), anchor: "middle")
        }
        return svg + "</svg>"
    }

    static func percent(_ value: Double) -> String { "\(Int((value * 100).rounded())) %" }

    private static func open(id: String, title: String, description: String, width: Double, height: Double) -> String {
        "<svg class=\"chart\" role=\"img\" aria-labelledby=\"\(id)-title \(id)-desc\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\">"
            + "<title id=\"\(id)-title\">\(Markup.escape(title))</title><desc id=\"\(id)-desc\">\(Markup.escape(description))</desc>"
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, style: String) -> String {
        "<line class=\"\(style)\" x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\"/>"
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, anchor: String) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\">\(Markup.escape(content))</text>"
    }

    private static func truncated(_ text: String, _ length: Int) -> String { text.count > length ? String(text.prefix(length - 1)) + "…" : text }

    /// 1, 2, 5 × 10ⁿ at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        return [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= value } ?? value
    }

    private static func format(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value) }
    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}

/// Escaping for the markup the server writes itself (charts); templates escape through Mustache.
enum Markup {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
