// A small SVG writer for the report pictures (`compare --svg`, `run --svg`,
// `sweep --svg`): rectangles, lines, circles, text, axes with round ticks, heatmap cells
// and one colour bar. Pure text (no I/O, no Foundation), coordinates in pixels.
//
// Everything is drawn with presentation attributes only (no CSS, no rotated text, no
// filters), so ImageMagick's own SVG renderer (MSVG), librsvg and browsers draw the
// same picture.

/// An SVG document being written: elements are appended to `body` in drawing order
/// (later on top); `document(width:height:)` wraps them in the `<svg>` root. An element's
/// `cls` is written as `data-kind` (what tests and scripts count), since ImageMagick's
/// renderer fails on `class` on a leaf element; groups carry `class`.
struct SVGCanvas {
    enum Anchor: String { case start, middle, end }

    private(set) var body = ""
    /// The rightmost x any text reaches (estimated): the document is at least this wide.
    private(set) var textExtent = 0.0

    /// The font every picture uses; DejaVu Sans is what Debian's renderers have.
    static let fontFamily = "DejaVu Sans, Arial, sans-serif"
    /// About how wide a character of the font is, as a share of its size (for layout).
    static let charWidth = 0.6

    /// The width in pixels `text` takes at `size` (an estimate, for layout).
    static func textWidth(_ text: String, size: Double) -> Double { Double(text.count) * size * charWidth }

    /// An open group with the given attributes (`class`, `font-size` ...); close with `end()`.
    mutating func group(_ attributes: [(String, String)]) { body += "<g" + Self.attributes(attributes) + ">\n" }
    mutating func end() { body += "</g>\n" }

    /// A rectangle; a `title` becomes its tooltip. Negative sizes are drawn as zero.
    mutating func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String,
                       stroke: String? = nil, strokeWidth: Double = 1, cls: String? = nil, title: String? = nil) {
        var a: [(String, String)] = []
        if let cls { a.append(("data-kind", cls)) }
        a += [("x", Self.num(x)), ("y", Self.num(y)), ("width", Self.num(max(0, width))),
              ("height", Self.num(max(0, height))), ("fill", fill)]
        if let stroke { a += [("stroke", stroke), ("stroke-width", Self.num(strokeWidth))] }
        element("rect", a, title: title)
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String,
                       width: Double = 1, dashed: Bool = false, cls: String? = nil) {
        var a: [(String, String)] = cls.map { [("data-kind", $0)] } ?? []
        a += [("x1", Self.num(x1)), ("y1", Self.num(y1)), ("x2", Self.num(x2)), ("y2", Self.num(y2)),
              ("stroke", stroke), ("stroke-width", Self.num(width))]
        if dashed { a.append(("stroke-dasharray", "5 3")) }
        element("line", a)
    }

    mutating func circle(_ cx: Double, _ cy: Double, _ r: Double, fill: String, stroke: String = "#333333",
                         cls: String? = nil, title: String? = nil) {
        var a: [(String, String)] = cls.map { [("data-kind", $0)] } ?? []
        a += [("cx", Self.num(cx)), ("cy", Self.num(cy)), ("r", Self.num(r)), ("fill", fill), ("stroke", stroke)]
        // A tooltip goes on a group around the circle: ImageMagick's renderer drops a
        // circle that has children.
        if let title { body += "<g><title>" + Self.escape(title) + "</title>" }
        element("circle", a)
        if title != nil { body += "</g>\n" }
    }

    /// An open polyline through `points`.
    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 1.5, cls: String? = nil) {
        guard points.count > 1 else { return }
        var a: [(String, String)] = cls.map { [("data-kind", $0)] } ?? []
        a += [("points", points.map { Self.num($0.x) + "," + Self.num($0.y) }.joined(separator: " ")),
              ("fill", "none"), ("stroke", stroke), ("stroke-width", Self.num(width))]
        element("polyline", a)
    }

    /// Text with its baseline at `y`, escaped for XML.
    mutating func text(_ x: Double, _ y: Double, _ content: String, size: Double = 11, anchor: Anchor = .start,
                       bold: Bool = false, fill: String = "#222222", cls: String? = nil) {
        var a: [(String, String)] = cls.map { [("data-kind", $0)] } ?? []
        a += [("x", Self.num(x)), ("y", Self.num(y)), ("font-size", Self.num(size)), ("fill", fill)]
        if anchor != .start { a.append(("text-anchor", anchor.rawValue)) }
        if bold { a.append(("font-weight", "bold")) }
        let w = Self.textWidth(content, size: size) * (bold ? 1.1 : 1)
        textExtent = Swift.max(textExtent, anchor == .start ? x + w : anchor == .middle ? x + w / 2 : x)
        body += "<text" + Self.attributes(a) + ">" + Self.escape(content) + "</text>\n"
    }

    private mutating func element(_ name: String, _ a: [(String, String)], title: String? = nil) {
        if let title {
            body += "<\(name)" + Self.attributes(a) + "><title>" + Self.escape(title) + "</title></\(name)>\n"
        } else {
            body += "<\(name)" + Self.attributes(a) + "/>\n"
        }
    }

    private static func attributes(_ a: [(String, String)]) -> String {
        a.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    /// The standalone document: an XML declaration and the `<svg>` root of this size
    /// (rounded up to whole pixels) on a white background. The root says `stroke="none"`
    /// (SVG's default, which ImageMagick's renderer does not assume). It is widened to
    /// hold every text.
    func document(width: Double, height: Double) -> String {
        let w = Self.num(Swift.max(width, textExtent + 12).rounded(.up)), h = Self.num(height.rounded(.up))
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\""
            + " font-family=\"\(Self.fontFamily)\" stroke=\"none\">\n"
            + "<rect width=\"\(w)\" height=\"\(h)\" fill=\"white\"/>\n" + body + "</svg>\n"
    }

    // MARK: - Axes, legends, heatmaps

    /// A vertical value axis from 0 at `top + height` to a round maximum ≥ `max` at `top`:
    /// grid lines across `width`, tick labels left of `left` (`format` of each tick
    /// value) and `label` above the axis. Returns the pixel y of a value.
    mutating func valueAxis(left: Double, top: Double, width: Double, height: Double, max: Double,
                            label: String, format: (Double) -> String) -> (Double) -> Double {
        let (step, intervals) = Self.ticks(max)
        let axisMax = step * Double(intervals)
        let y = { (v: Double) in top + height * (1 - Swift.min(Swift.max(v, 0), axisMax) / axisMax) }
        group([("class", "axis")])
        for i in 0...intervals {
            let v = step * Double(i)
            line(left, y(v), left + width, y(v), stroke: i == 0 ? "#333333" : "#e3e3e3")
            text(left - 5, y(v) + 4, format(v), size: 10, anchor: .end, fill: "#444444")
        }
        line(left, top, left, top + height, stroke: "#333333")
        text(left, top - 8, label, size: 10, anchor: .start, fill: "#444444")
        end()
        return y
    }

    /// Legend entries in a column at (x, y): a swatch and a name each, 16 px apart.
    mutating func legend(x: Double, y: Double, _ entries: [(name: String, color: String)]) {
        group([("class", "legend")])
        for (i, e) in entries.enumerated() {
            let ly = y + Double(i) * 16
            rect(x, ly, 11, 11, fill: e.color, stroke: "#666666", strokeWidth: 0.5)
            text(x + 16, ly + 10, e.name, size: 11)
        }
        end()
    }

    /// A legend of the phases in `bars` (each a stack of named segments), in the order
    /// they first appear, top of the stack first, in each phase's colour.
    static func phaseLegend(_ bars: [[(name: String, ms: Double)]]) -> [(name: String, color: String)] {
        var names: [String] = []
        for s in bars.joined() where !names.contains(s.name) { names.append(s.name) }
        return names.reversed().map { (name: $0, color: Palette.phase($0)) }
    }

    /// One stacked bar of `segments` (ms, empty ones skipped) from the axis up, `width`
    /// wide at `x`, on the value axis `yv`; each segment a rect of its phase's colour
    /// (class "segment", "segment outside" for the time outside every phase) titled
    /// `label`: phase time. Returns the bar's top, ms.
    mutating func stackedBar(_ segments: [(name: String, ms: Double)], x: Double, width: Double,
                             value yv: (Double) -> Double, label: String) -> Double {
        var base = 0.0
        for s in segments where s.ms > 0 {
            rect(x, yv(base + s.ms), width, yv(base) - yv(base + s.ms), fill: Palette.phase(s.name),
                 cls: s.name == "outside phases" ? "segment outside" : "segment", title: "\(label): \(s.name) \(Self.ms(s.ms))")
            base += s.ms
        }
        return base
    }

    /// The document of a chart with nothing to draw: its title and `message`.
    static func placeholder(title: String, message: String) -> String {
        var c = SVGCanvas()
        c.text(16, 24, title, size: 15, bold: true)
        c.text(16, 56, message, size: 13, fill: "#666666")
        return c.document(width: 400, height: 80)
    }

    /// At most `maxCells` × `maxCells` cells for a P × P matrix: above that, blocks of
    /// g = ⌈P / maxCells⌉ consecutive ranks on each side are summed into one cell (a
    /// picture of 1,024² cells would be hundreds of MB of SVG that no viewer draws).
    /// Returns the cells and g (1 when nothing is summed).
    static func binned(_ matrix: [[Int64]], maxCells: Int = 64) -> (cells: [[Int64]], ranksPerCell: Int) {
        let p = Swift.max(matrix.count, matrix.map(\.count).max() ?? 0)
        guard p > maxCells else { return (matrix, 1) }
        let g = (p + maxCells - 1) / maxCells, n = (p + g - 1) / g
        var cells = [[Int64]](repeating: [Int64](repeating: 0, count: n), count: n)
        for (i, row) in matrix.enumerated() {
            for (j, v) in row.enumerated() { cells[i / g][j / g] += Swift.max(0, v) }
        }
        return (cells, g)
    }

    /// A heatmap of `matrix` ([src][dst] bytes, rows may be ragged: missing cells are 0)
    /// at (x, y), `size` pixels square, coloured by `Palette.viridis(v / scaleMax)` (one
    /// scale for every heatmap of a picture), the diagonal outlined, rank numbers on both
    /// axes. With `ranksPerCell` g > 1 (`binned`), cell (i, j) holds ranks [i·g, (i+1)·g)
    /// to [j·g, (j+1)·g), and the outlined diagonal those blocks' traffic among
    /// themselves, self-traffic included. Each cell is a `class="cell"` rect.
    mutating func heatmap(x: Double, y: Double, size: Double, matrix: [[Int64]], scaleMax: Int64,
                          ranksPerCell g: Int = 1) {
        let rows = matrix.count, cols = Swift.max(rows, matrix.map(\.count).max() ?? 0)
        guard rows > 0, cols > 0 else { return }
        let cell = size / Double(cols)
        group([("class", "heatmap-cells")])
        for (i, row) in matrix.enumerated() {
            for j in 0..<cols {
                let v = j < row.count ? Swift.max(0, row[j]) : 0
                let t = scaleMax > 0 ? Double(v) / Double(scaleMax) : 0
                let from = g == 1 ? "rank \(i)" : "ranks \(i * g)–\((i + 1) * g - 1)"
                let to = g == 1 ? "rank \(j)" : "ranks \(j * g)–\((j + 1) * g - 1)"
                rect(x + Double(j) * cell, y + Double(i) * cell, cell + 0.3, cell + 0.3, fill: Palette.viridis(t),
                     cls: "cell", title: "\(from) → \(to): \(Self.bytes(v)) (\(v) B)")
            }
        }
        end()
        if cell >= 4 {
            for i in 0..<Swift.min(rows, cols) {
                let inset = Swift.min(1.5, cell * 0.12)
                rect(x + Double(i) * cell + inset, y + Double(i) * cell + inset, cell - 2 * inset, cell - 2 * inset,
                     fill: "none", stroke: "#ff4040", strokeWidth: Swift.min(1.5, Swift.max(0.6, cell * 0.08)), cls: "diag")
            }
        }
        rect(x, y, size, Double(rows) * cell, fill: "none", stroke: "#888888", strokeWidth: 0.8)
        let every = Swift.max(1, (cols + 7) / 8)
        for i in stride(from: 0, to: rows, by: every) {
            text(x - 4, y + (Double(i) + 0.5) * cell + 3.5, String(i * g), size: 9, anchor: .end, fill: "#444444")
        }
        for j in stride(from: 0, to: cols, by: every) {
            text(x + (Double(j) + 0.5) * cell, y + Double(rows) * cell + 11, String(j * g), size: 9, anchor: .middle,
                 fill: "#444444")
        }
        if g > 1 {
            text(x, y + Double(rows) * cell + 24, "\(g) ranks per cell (bytes summed)", size: 9, fill: "#444444")
        }
    }

    /// The colour bar of `heatmap`'s scale, `height` pixels tall at (x, y): 0 at the
    /// bottom, `scaleMax` bytes at the top, five byte labels to its right. The one
    /// `class="colorbar"` group of a picture.
    mutating func colorBar(x: Double, y: Double, height: Double, scaleMax: Int64, label: String) {
        group([("class", "colorbar")])
        text(x, y - 8, label, size: 10, fill: "#444444")
        let bands = 48
        let band = height / Double(bands)
        for b in 0..<bands {
            let t = (Double(b) + 0.5) / Double(bands)
            rect(x, y + height - Double(b + 1) * band, 14, band + 0.3, fill: Palette.viridis(t))
        }
        rect(x, y, 14, height, fill: "none", stroke: "#888888", strokeWidth: 0.8)
        for i in 0...4 {
            let t = Double(i) / 4
            let ty = y + height * (1 - t)
            line(x + 14, ty, x + 18, ty, stroke: "#444444")
            text(x + 21, ty + 3.5, Self.bytes(Int64((Double(scaleMax) * t).rounded())), size: 9, fill: "#444444")
        }
        end()
    }

    // MARK: - Text helpers

    /// Escapes the five XML special characters.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Shortens to at most `limit` characters, ending in "…" when cut.
    static func truncate(_ s: String, _ limit: Int) -> String {
        s.count <= Swift.max(limit, 2) ? s : String(s.prefix(Swift.max(limit, 2) - 1)) + "…"
    }

    /// Non-finite and negative values become 0.
    static func clean(_ v: Double) -> Double { v.isFinite && v > 0 ? v : 0 }

    /// A round tick step (1, 2, 2.5 or 5 × 10^k) and interval count (3–5) covering `top`.
    static func ticks(_ top: Double) -> (step: Double, intervals: Int) {
        guard top.isFinite, top > 0 else { return (0.25, 4) }
        let raw = top / 5
        var magnitude = 1.0
        while magnitude > raw { magnitude /= 10 }
        while magnitude * 10 <= raw { magnitude *= 10 }
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        return (step, Swift.max(1, Int((top / step - 1e-9).rounded(.up))))
    }

    /// `v` with `decimals` places, trailing zeros dropped (no Foundation).
    static func num(_ v: Double, _ decimals: Int = 2) -> String {
        guard v.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        guard abs(v) * Double(scale) < 9e18 else { return String(Int64(v.rounded())) }
        let units = Int64((abs(v) * Double(scale)).rounded())
        var fraction = decimals > 0 ? String(units % scale) : ""
        fraction = String(repeating: "0", count: Swift.max(0, decimals - fraction.count)) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = v < 0 && units != 0 ? "-" : ""
        return sign + String(units / scale) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// A tick label: up to four significant decimals, trailing zeros dropped ("0.25", "1200").
    static func tick(_ v: Double) -> String { num(v, v >= 100 ? 0 : v >= 1 ? 2 : 4) }

    /// Milliseconds with about three significant digits: "0.123 ms", "12.3 ms", "456 ms".
    static func ms(_ v: Double) -> String {
        num(v, v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3) + " ms"
    }

    /// A share as a percentage, two decimals below 10% and one above ("0.25%", "12.3%").
    static func percentShort(_ share: Double) -> String {
        let v = clean(share) * 100
        return num(v, v >= 10 ? 1 : 2) + "%"
    }

    /// Bytes in binary units: "0 B", "812 B", "1.2 MiB".
    static func bytes(_ n: Int64) -> String {
        var value = Double(n), unit = 0
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        while abs(value) >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return num(value, unit == 0 || value >= 100 ? 0 : 1) + " " + units[unit]
    }
}
