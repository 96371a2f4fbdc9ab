import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

// Reading and rendering the report pictures in tests: an SVG parsed with Foundation's
// XMLParser, and an SVG rendered to PNG by ImageMagick's `convert` (and by librsvg's
// `rsvg-convert` where it is installed). No assertions here: the tests make them.

/// An SVG document as XMLParser read it.
struct ParsedSVG {
    struct Element {
        var name: String
        var attributes: [String: String]
        /// The character data directly inside (for `<text>` and `<title>`).
        var text = ""
    }

    /// Every element in document order, the root first.
    var elements: [Element] = []
    /// nil when the document parsed; else XMLParser's error.
    var parseError: String?

    /// Elements whose `data-kind` is `kind`.
    func kind(_ kind: String) -> [Element] { elements.filter { $0.attributes["data-kind"] == kind } }
    /// Groups whose `class` is `name`.
    func groups(_ name: String) -> Int { elements.filter { $0.name == "g" && $0.attributes["class"] == name }.count }
    /// The text of every `<text>` element.
    var texts: [String] { elements.filter { $0.name == "text" }.map(\.text) }
    /// The root's width and height attributes.
    var size: (width: Int, height: Int)? {
        guard let root = elements.first, root.name == "svg", let w = root.attributes["width"].flatMap({ Int($0) }),
              let h = root.attributes["height"].flatMap({ Int($0) }) else { return nil }
        return (w, h)
    }
}

private final class SVGCollector: NSObject, XMLParserDelegate {
    var parsed = ParsedSVG()
    private var open: [Int] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        parsed.elements.append(.init(name: name, attributes: attributes))
        open.append(parsed.elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        _ = open.popLast()
    }

    /// Linux's XMLParser may go on after a fatal error (a mismatched end tag) and return
    /// true from `parse()`: the first error reported here counts.
    func parser(_ parser: XMLParser, parseErrorOccurred error: Error) {
        if parsed.parseError == nil { parsed.parseError = "\(error)" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = open.last { parsed.elements[i].text += string }
    }
}

/// Parses `svg` with Foundation's XMLParser (a well-formedness check).
func parseSVG(_ svg: String) -> ParsedSVG {
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = SVGCollector()
    parser.delegate = collector
    let ok = parser.parse()
    var parsed = collector.parsed
    if parsed.parseError == nil, !ok || parser.parserError != nil {
        parsed.parseError = parser.parserError.map { "\($0)" } ?? "parse failed"
    }
    return parsed
}

/// A PNG a renderer wrote.
struct RenderedPNG {
    var path: String
    var renderer: String
    var status: Int32
    var stderr: String
    var bytes: Int
    /// From the PNG's IHDR chunk (nil: not a PNG).
    var width: Int?
    var height: Int?
}

/// Where rendered pictures go: `EPSIM_PICTURES_DIR` when set (to look at them), else a
/// new temporary directory.
func pictureDirectory() throws -> URL {
    if let dir = ProcessInfo.processInfo.environment["EPSIM_PICTURES_DIR"], !dir.isEmpty {
        let url = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-svg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The first executable named `name` on PATH.
private func executable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

private func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// ImageMagick's `convert` when it is installed with an SVG coder; throws XCTSkip naming
/// what is missing otherwise (a machine without ImageMagick has only a stand-in that
/// shows PNG files).
func imageMagickWithSVG() throws -> String {
    guard let convert = executable("convert") else {
        throw XCTSkip("ImageMagick's convert is not installed (apt-get install imagemagick): the pictures were not rendered")
    }
    let formats = try runTool(convert, ["-list", "format"])
    let svg = formats.stdout.split(separator: "\n").first { line in
        let fields = line.split(separator: " ")
        return fields.first == "SVG" || fields.first == "MSVG" || fields.first == "SVG*"
    }
    guard formats.status == 0, svg != nil else {
        throw XCTSkip("\(convert) is not ImageMagick with an SVG coder (apt-get install imagemagick): the pictures were not rendered")
    }
    return convert
}

/// Writes `svg` to NAME.svg and renders it with ImageMagick to NAME.png, and with
/// librsvg's rsvg-convert to NAME.rsvg.png where that is installed. Throws XCTSkip when
/// ImageMagick with an SVG coder is missing.
func renderSVG(_ svg: String, name: String) throws -> [RenderedPNG] {
    let convert = try imageMagickWithSVG()
    let dir = try pictureDirectory()
    let svgPath = dir.appendingPathComponent(name + ".svg").path
    try Data(svg.utf8).write(to: URL(fileURLWithPath: svgPath))
    var rendered: [(String, String, [String])] = [("ImageMagick", dir.appendingPathComponent(name + ".png").path, [])]
    if let rsvg = executable("rsvg-convert") {
        rendered.append(("rsvg-convert", dir.appendingPathComponent(name + ".rsvg.png").path, [rsvg]))
    }
    return try rendered.map { renderer, png, tool in
        let run = tool.isEmpty ? try runTool(convert, [svgPath, png]) : try runTool(tool[0], ["-o", png, svgPath])
        let data = (try? Data(contentsOf: URL(fileURLWithPath: png))) ?? Data()
        var result = RenderedPNG(path: png, renderer: renderer, status: run.status, stderr: run.stderr, bytes: data.count)
        let bytes = [UInt8](data.prefix(24))
        if bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] {
            func be(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            result.width = be(16)
            result.height = be(20)
        }
        return result
    }
}
