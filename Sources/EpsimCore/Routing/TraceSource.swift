import Foundation

/// One source of a router trace (docs/traces.md) as its headers describe it, seen as
/// [steps, layers, rows, cols] slabs of [rows × cols]:
/// - a `.npy` file [rows, cols] (one slab for every step and layer), [layers, rows, cols]
///   (one per layer, for every step) or [steps, layers, rows, cols];
/// - a folder of `step_<s>_layer_<l>.npy` files [rows, cols] (decimal s and l, any zero
///   padding; other names ending in `.npy` are errors, other files are ignored), holding
///   every (s, l) of steps × layers exactly once.
/// Element types: float32, float16, bfloat16 bits (`bf16`), int32, int64 (`NpyElement`);
/// every file of a folder has the same shape and type.
struct TraceSource {
    let path: String
    /// The config key that named it (for errors): `workload.file`, `workload.topk_ids`, ...
    let key: String
    let steps: Int
    let layers: Int
    let rows: Int
    let cols: Int
    /// The source has a layer axis (3-D, 4-D, a folder); else its one slab serves every layer.
    let layered: Bool
    /// The source has a step axis (4-D, a folder).
    let stepped: Bool
    let element: NpyElement
    /// The file holding all slabs, or a folder's files in (step, layer) order.
    let files: [String]
    /// The shape as given: the file's, or `folder (steps, layers, rows, cols)`.
    let shapeText: String
    let bf16: Bool

    static let folderPattern = "step_<s>_layer_<l>.npy"

    /// Reads the headers of `path` (a file or a folder) and checks the layout. Errors
    /// are one-line `ConfigError`s at `key` naming the file and the value.
    static func inspect(_ path: String, key: String, bf16: Bool, configFile: String?,
                        memoryLimit: Double? = nil) throws(ConfigError) -> TraceSource {
        func fail(_ message: String) -> ConfigError { ConfigError(file: configFile, keyPath: key, "\(path): \(message)") }
        // The last axis: E for logits, k for top-k indices and weights.
        let last = key.hasPrefix("workload.topk") ? "k" : "E"
        func header(_ file: String) throws(ConfigError) -> (shape: [Int], element: NpyElement) {
            do {
                return try NpyReader.header(path: file, bf16: bf16, configFile: configFile, memoryLimit: memoryLimit)
            } catch {
                var e = error
                e.keyPath = key
                throw e
            }
        }
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw fail("cannot list folder: \(error.localizedDescription)")
            }
            var byIndex: [[Int]: String] = [:]
            for name in names.sorted() where name.hasSuffix(".npy") {
                guard let (s, l) = parseName(name) else {
                    throw fail("unexpected file '\(name)' (a trace folder holds \(folderPattern) files)")
                }
                if let other = byIndex[[s, l]] { throw fail("'\(other)' and '\(name)' are both step \(s), layer \(l)") }
                byIndex[[s, l]] = name
            }
            guard !byIndex.isEmpty else { throw fail("no \(folderPattern) files in the folder") }
            let steps = byIndex.keys.map { $0[0] }.max()! + 1, layers = byIndex.keys.map { $0[1] }.max()! + 1
            var files: [String] = []
            var first: (shape: [Int], element: NpyElement, name: String)? = nil
            for s in 0..<steps {
                for l in 0..<layers {
                    guard let name = byIndex[[s, l]] else {
                        throw fail("step \(s), layer \(l) is missing (steps 0..<\(steps) and layers 0..<\(layers) "
                                   + "are present, every pair needs its file \(folderPattern))")
                    }
                    let file = path + "/" + name
                    let h = try header(file)
                    guard h.shape.count == 2 else {
                        throw fail("\(name): expected [tokens, \(last)] in a trace folder, got shape \(NpyHeader.shapeText(h.shape))")
                    }
                    if let f = first {
                        guard h.shape == f.shape, h.element == f.element else {
                            throw fail("\(name) is \(NpyHeader.shapeText(h.shape)) \(h.element.rawValue), "
                                       + "\(f.name) is \(NpyHeader.shapeText(f.shape)) \(f.element.rawValue); every file must match")
                        }
                    } else {
                        first = (h.shape, h.element, name)
                    }
                    files.append(file)
                }
            }
            let f = first!
            return TraceSource(path: path, key: key, steps: steps, layers: layers, rows: f.shape[0], cols: f.shape[1],
                               layered: true, stepped: true, element: f.element, files: files,
                               shapeText: "folder " + NpyHeader.shapeText([steps, layers] + f.shape), bf16: bf16)
        }
        let h = try header(path)
        let shape = h.shape
        let text = NpyHeader.shapeText(shape)
        switch shape.count {
        case 2:
            return TraceSource(path: path, key: key, steps: 1, layers: 1, rows: shape[0], cols: shape[1], layered: false, stepped: false,
                               element: h.element, files: [path], shapeText: text, bf16: bf16)
        case 3:
            return TraceSource(path: path, key: key, steps: 1, layers: shape[0], rows: shape[1], cols: shape[2],
                               layered: true, stepped: false, element: h.element, files: [path], shapeText: text, bf16: bf16)
        case 4:
            return TraceSource(path: path, key: key, steps: shape[0], layers: shape[1], rows: shape[2], cols: shape[3],
                               layered: true, stepped: true, element: h.element, files: [path], shapeText: text, bf16: bf16)
        default:
            throw fail("expected [tokens, \(last)], [layers, tokens, \(last)] or [steps, layers, tokens, \(last)], got shape \(text)")
        }
    }

    /// (s, l) of `step_<s>_layer_<l>.npy`, or nil.
    static func parseName(_ name: String) -> (Int, Int)? {
        guard name.hasPrefix("step_"), name.hasSuffix(".npy") else { return nil }
        let middle = name.dropFirst(5).dropLast(4)
        let parts = middle.components(separatedBy: "_layer_")
        guard parts.count == 2, let s = decimal(parts[0]), let l = decimal(parts[1]) else { return nil }
        return (s, l)
    }

    private static func decimal(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 9, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }

    /// Reads the data and hands `body` each (step, layer) slab: its index s · layers + l,
    /// the array holding it and the element where the slab starts. One file at a time.
    func forEachSlab(configFile: String?, memoryLimit: Double? = nil, decodedWidth: Int,
                     _ body: (Int, NpyRaw, Int) throws(ConfigError) -> Void) throws(ConfigError) {
        func read(_ file: String) throws(ConfigError) -> NpyRaw {
            do {
                return try NpyReader.readRaw(path: file, bf16: bf16, configFile: configFile, memoryLimit: memoryLimit,
                                             decodedWidth: decodedWidth)
            } catch {
                var e = error
                e.keyPath = key
                throw e
            }
        }
        if files.count == 1 {
            let raw = try read(files[0])
            for slab in 0..<(steps * layers) { try body(slab, raw, slab * rows * cols) }
        } else {
            for (slab, file) in files.enumerated() { try body(slab, try read(file), 0) }
        }
    }

    /// Where element `i` of slab `slab` sits, for messages: `step 1, layer 0, row 5,
    /// column 2` (the axes the source has), and the file it is in.
    func location(slab: Int, element i: Int) -> (file: String, text: String) {
        let row = i / cols, column = i % cols
        let s = slab / layers, l = slab % layers
        if files[0] != path { return (files[slab], "row \(row), column \(column)") }
        switch (stepped, layered) {
        case (true, _): return (path, "step \(s), layer \(l), row \(row), column \(column)")
        case (false, true): return (path, "layer \(l), row \(row), column \(column)")
        case (false, false): return (path, "row \(row), column \(column)")
        }
    }
}
