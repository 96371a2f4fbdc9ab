import Foundation

/// Router traces for the `trace` workload: a few valid .npy files (float32, float16)
/// and more than 50 malformed ones (truncated, wrong dtype or rank, Fortran order, lying or huge
/// shapes, bad magic or version, non-finite logits). Each is replayed by a small
/// layout that names it; a malformed file must stop the run with one line naming it.
enum FuzzNpy {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    static func floats(_ values: [Float], bigEndian: Bool = false) -> [UInt8] {
        values.flatMap { v -> [UInt8] in
            let bits = bigEndian ? v.bitPattern.bigEndian : v.bitPattern.littleEndian
            return withUnsafeBytes(of: bits) { Array($0) }
        }
    }

    /// Magic, version, length and the dict, padded with spaces to 64 bytes, ending in '\n'.
    static func header(_ dict: String, major: UInt8 = 1, pad: Int = 64) -> [UInt8] {
        let prefix = major == 1 ? 10 : 12
        var text = Array(dict.utf8)
        let unpadded = prefix + text.count + 1
        text += Array(repeating: 0x20, count: (pad - unpadded % pad) % pad) + [0x0A]
        let n = text.count
        let length: [UInt8] = major == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF)]
            : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24 & 0xFF)]
        return magic + [major, 0] + length + text
    }

    static func npy(descr: String = "<f4", fortran: String = "False", shape: String, data: [UInt8],
                    major: UInt8 = 1, pad: Int = 64) -> [UInt8] {
        header("{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }", major: major, pad: pad) + data
    }

    static func logits(_ count: Int, _ g: inout FuzzRNG) -> [Float] { (0..<count).map { _ in 2 * g.normal() } }

    /// A valid [rows × experts] float32 trace.
    static func valid(rows: Int, experts: Int, _ g: inout FuzzRNG) -> [UInt8] {
        npy(shape: "(\(rows), \(experts))", data: floats(logits(rows * experts, &g)))
    }

    /// Every file variant for a trace that needs `R` rows of `E` columns (R ≥ 1).
    static func variants(rows R: Int, experts E: Int, _ g: inout FuzzRNG) -> [(String, [UInt8], FuzzCase.Expect)] {
        let values = logits((R + 2) * E, &g)
        let data = floats(Array(values.prefix(R * E)))
        let shape = "(\(R), \(E))"
        let good = npy(shape: shape, data: data)
        func with(_ bytes: [UInt8], _ edits: [(Int, UInt8)]) -> [UInt8] {
            var b = bytes
            for (i, v) in edits { b[i] = v }
            return b
        }
        func poisoned(_ index: Int, _ value: Float, rows: Int = R) -> [UInt8] {
            var v = Array(values.prefix(rows * E))
            v[index] = value
            return npy(shape: "(\(rows), \(E))", data: floats(v))
        }
        let v2 = npy(shape: shape, data: data, major: 2)
        var v3utf8 = npy(shape: shape, data: data, major: 3)
        v3utf8[14] = 0xFF  // inside 'descr'
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        return [
            // truncated or not a .npy file at all
            ("empty file", [], .error), ("magic only", magic, .error), ("9 bytes", magic + [1, 0, 0], .error),
            ("bad magic", with(good, [(5, 0x5A)]), .error), ("zeros", Array(repeating: 0, count: 128), .error),
            ("text file", Array("hello world\n".utf8), .error),
            ("PNG header", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + good.dropFirst(8), .error),
            ("version 0.0", with(good, [(6, 0)]), .error), ("version 4.0", with(good, [(6, 4)]), .error),
            ("v1 header length 65535", with(good, [(8, 0xFF), (9, 0xFF)]), .error),
            ("v2 header length 2^32-1", with(v2, [(8, 0xFF), (9, 0xFF), (10, 0xFF), (11, 0xFF)]), .error),
            ("v2 cut inside the length", Array(v2.prefix(11)), .error),
            ("header cut", Array(good.prefix(30)), .error),
            ("header length too small", with(good, [(8, 20), (9, 0)]), .error),
            // header dictionary
            ("header not a dict", header("hello") + data, .error),
            ("header without shape", header("{'descr': '<f4', 'fortran_order': False, }") + data, .error),
            ("header without descr", header("{'fortran_order': False, 'shape': \(shape), }") + data, .error),
            ("header without fortran_order", header("{'descr': '<f4', 'shape': \(shape), }") + data, .error),
            ("unterminated string", header("{'descr': '<f4, 'fortran_order': False, 'shape': \(shape), }") + data, .error),
            ("shape as a list", header("{'descr': '<f4', 'fortran_order': False, 'shape': [\(R), \(E)], }") + data, .error),
            ("trailing garbage", header(dict + "xyz") + data, .error),
            ("v3 header invalid UTF-8", v3utf8, .error),
            ("extra header key", header("{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), 'x': 1, }") + data, .either),
            ("spaces in shape", header("{'descr': '<f4', 'fortran_order': False, 'shape': ( \(R) ,\n\(E) ), }") + data, .either),
            ("Python 2 long shape", header("{'descr': '<f4', 'fortran_order': False, 'shape': (\(R)L, \(E)L), }") + data, .either),
            // dtype and order
            ("float64", npy(descr: "<f8", shape: shape, data: Array(values.prefix(R * E)).flatMap { v in
                withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { Array($0) } }), .error),
            ("big-endian float32", npy(descr: ">f4", shape: shape, data: floats(Array(values.prefix(R * E)), bigEndian: true)), .error),
            ("int32", npy(descr: "<i4", shape: shape, data: data), .error),
            ("uint8", npy(descr: "|u1", shape: shape, data: Array(repeating: 1, count: R * E)), .error),
            ("float16", npy(descr: "<f2", shape: shape, data: Array(values.prefix(R * E)).flatMap { v in
                withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { Array($0) } }), .run),
            ("uint16 without workload.dtype bf16", npy(descr: "<u2", shape: shape, data: Array(data.prefix(2 * R * E))), .error),
            ("object", npy(descr: "|O", shape: shape, data: data), .error),
            ("complex64", npy(descr: "<c8", shape: shape, data: data + data), .error),
            ("Fortran order", npy(fortran: "True", shape: shape, data: data), .error),
            ("fortran_order a string", npy(fortran: "'yes'", shape: shape, data: data), .error),
            // rank and shape
            ("0-D", npy(shape: "()", data: floats([1])), .error),
            ("1-D", npy(shape: "(\(R * E),)", data: data), .error),
            ("3-D", npy(shape: "(\(R), \(E), 1)", data: data), .error),
            ("one column more", npy(shape: "(\(R), \(E + 1))", data: floats(Array(values.prefix(R * (E + 1))))), .error),
            ("one row fewer than tokens", npy(shape: "(\(R - 1), \(E))", data: floats(Array(values.prefix((R - 1) * E)))), .error),
            ("no rows", npy(shape: "(0, \(E))", data: []), .error),
            ("data one byte short", Array(good.dropLast()), .error),
            ("data half", Array(good.prefix(good.count - data.count / 2)), .error),
            ("shape twice the data", npy(shape: "(\(2 * R + 4), \(E))", data: data), .error),
            ("shape 2^40 rows", npy(shape: "(1099511627776, \(E))", data: data), .error),
            ("shape Int.max rows", npy(shape: "(9223372036854775807, \(E))", data: data), .error),
            ("shape 2^59 x 4 (bytes overflow)", npy(shape: "(576460752303423488, 4)", data: data), .error),
            ("shape 4 x 2^61", npy(shape: "(4, 2305843009213693952)", data: data), .error),
            ("negative shape", npy(shape: "(-1, \(E))", data: data), .error),
            ("20-digit shape", npy(shape: "(99999999999999999999, \(E))", data: data), .error),
            ("non-integer shape", npy(shape: "('a', \(E))", data: data), .error),
            // values
            ("NaN in the first row", poisoned(0, .nan), .error),
            ("+inf in a row", poisoned(R * E / 2, .infinity), .error),
            ("-inf in the last row", poisoned(R * E - 1, -.infinity), .error),
            ("all NaN", npy(shape: shape, data: floats(Array(repeating: .nan, count: R * E))), .error),
            ("signalling NaN", npy(shape: shape, data: floats([Float(bitPattern: 0x7FA0_0000)]) + data.dropFirst(4)), .error),
            ("NaN in an extra row", poisoned((R + 1) * E + 1, .nan, rows: R + 2), .either),
            ("largest floats", npy(shape: shape, data: floats((0..<(R * E)).map { $0 % 2 == 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude })), .either),
            ("subnormal floats", npy(shape: shape, data: floats((0..<(R * E)).map { Float($0 % 3) * .leastNonzeroMagnitude })), .either),
            ("200 KB v2 header", npy(shape: shape, data: data, major: 2, pad: 200_000), .either),
            // valid
            ("valid v1.0", good, .run), ("valid v2.0", v2, .run),
            ("valid v3.0", npy(shape: shape, data: data, major: 3), .run),
            ("valid with extra rows", npy(shape: "(\(R + 2), \(E))", data: floats(values)), .run),
            ("valid unpadded header", npy(shape: shape, data: data, pad: 1), .run),
        ]
    }

    /// One case per variant (the per-rank variants need 2 or more ranks), seeded; on at
    /// least `minRanks` ranks, numbered from `firstIndex`.
    static func cases(seed: UInt64, minRanks: Int = 1, firstIndex: Int = 0) -> [FuzzCase] {
        var probe = FuzzRNG(seed: seed, stream: 2)
        let count = variants(rows: 1, experts: 4, &probe).count
        var result: [FuzzCase] = []
        for v in 0..<(count + 3) {
            var g = FuzzRNG(seed: seed, stream: 2, index: v)
            let perRankFiles = v >= count
            let P = perRankFiles ? g.int(2...3) : g.int(minRanks...3)
            let tokens = (0..<P).map { _ in g.int(1...5) }
            let config = traceLayout(&g, tokens: tokens)
            var c = FuzzCase(index: firstIndex + v, label: "", config: config, ranks: P, expect: .error, mentions: ["trace.npy"])
            c.routingOut = g.chance(0.5)
            if !perRankFiles {
                let (label, bytes, expect) = variants(rows: tokens.reduce(0, +), experts: 4, &g)[v]
                c.label = "npy: \(label)"
                c.files = ["trace.npy": bytes]
                c.expect = expect
                c.config.set(["workload"], .map([("kind", .raw("trace")), ("file", .raw("trace.npy"))]))
            } else {
                // One file per rank: all valid, or one of them truncated, or one with NaN.
                let bad = g.int(0...(P - 1)), kind = v - count
                let names = (0..<P).map { "trace\($0).npy" }
                for r in 0..<P {
                    var bytes = valid(rows: tokens[r], experts: 4, &g)
                    if r == bad && kind == 1 { bytes.removeLast(3) }
                    if r == bad && kind == 2 { bytes.replaceSubrange((bytes.count - 4)..., with: floats([.nan])) }
                    c.files[names[r]] = bytes
                }
                c.label = ["npy: valid per-rank files", "npy: per-rank file truncated", "npy: per-rank file with NaN"][kind]
                c.expect = kind == 0 ? .run : .error
                c.mentions = [names[bad]]
                c.config.set(["workload"], .map([("kind", .raw("trace")), ("files", .list(names.map(YNode.raw)))]))
            }
            result.append(c)
        }
        return result
    }

    /// A small layout for a trace of 4 experts over `tokens` (one entry per rank).
    static func traceLayout(_ g: inout FuzzRNG, tokens: [Int]) -> YNode {
        .map([("tokens", .ints(tokens)), ("steps", .int(1)), ("warmup_steps", .int(g.int(0...1))),
              ("model", .map([("hidden", .int(4)), ("ffn", .int(4)), ("experts", .int(4)), ("top_k", .int(g.int(1...2)))])),
              ("router", .map([("score", .raw(g.pick(FuzzLayouts.scores))), ("weights", .raw(g.pick(FuzzLayouts.weights)))])),
              ("overflow", .map([("policy", .raw(g.pick(FuzzLayouts.policies)))]))])
    }
}
