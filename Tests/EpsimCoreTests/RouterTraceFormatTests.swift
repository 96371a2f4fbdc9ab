import Foundation
import XCTest
@testable import EpsimCore

/// Router traces from real models (docs/traces.md): element types, shapes, folders,
/// per-(step, layer) replay, top-k traces, the rows rule and the one-line errors.
final class RouterTraceFormatTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-fmt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Writes a .npy of `descr` and `shape` whose data are `bytes`.
    @discardableResult
    func write(_ name: String, descr: String, shape: [Int], bytes: [UInt8]) throws -> String {
        let p = path(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(NpyWriter.header(descr: descr, shape: shape) + bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func f32(_ values: [Float]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }
    func u16(_ values: [UInt16]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }
    func i32(_ values: [Int32]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }
    func i64(_ values: [Int64]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } } }

    func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    // MARK: element types

    func testFloat16AndBfloat16AreConvertedExactly() throws {
        // binary16: 1, -2, 0.5, 65504 (largest), 2^-24 (smallest subnormal), -0.
        let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000]
        let p16 = try write("h.npy", descr: "<f2", shape: [2, 3], bytes: u16(half))
        let a = try NpyReader.readRaw(path: p16)
        XCTAssertEqual(a.element, .float16)
        XCTAssertEqual(a.shape, [2, 3])
        let h = a.floats(from: 0, count: 6)
        XCTAssertEqual(Array(h[0..<5]), [1, -2, 0.5, 65504, 0x1p-24])
        XCTAssertEqual(h[5].bitPattern, (-0.0 as Float).bitPattern)
        // Every binary16 value equals Swift's own Float16 conversion, bit for bit.
        #if !(os(macOS) && arch(x86_64))
        for bits in UInt16.min...UInt16.max {
            let mine = NpyElement.float(half: bits), swift = Float(Float16(bitPattern: bits))
            XCTAssertTrue(mine.bitPattern == swift.bitPattern || (mine.isNaN && swift.isNaN), "half \(bits)")
        }
        #endif
        // bfloat16 bits as '<u2' and as ml_dtypes' '<V2': 1, -3, 1.5, 2^-133 (bf16 subnormal).
        let bf: [UInt16] = [0x3F80, 0xC040, 0x3FC0, 0x0001]
        for descr in ["<u2", "<i2", "<V2", "|V2"] {
            let p = try write("b\(descr.hashValue).npy", descr: descr, shape: [4], bytes: u16(bf))
            let b = try NpyReader.readRaw(path: p, bf16: true)
            XCTAssertEqual(b.element, .bfloat16)
            XCTAssertEqual(b.floats(from: 0, count: 4), [1, -3, 1.5, Float(bitPattern: 0x0001_0000)])
            // Without workload.dtype: bf16 a 2-byte raw type is refused with the hint.
            XCTAssertTrue(message { _ = try NpyReader.readRaw(path: p) }.hasSuffix(
                "got '\(descr)' (bfloat16 saved as raw 2-byte values? set workload.dtype: bf16)"), descr)
        }
        let p32 = try write("f.npy", descr: "<f4", shape: [2], bytes: f32([0.1, -7]))
        XCTAssertEqual(try NpyReader.readRaw(path: p32).floats(from: 0, count: 2), [0.1, -7])
        let pi4 = try write("i4.npy", descr: "<i4", shape: [3], bytes: i32([0, 7, -1]))
        XCTAssertEqual(try NpyReader.readRaw(path: pi4).integers(from: 0, count: 3), [0, 7, -1])
        let pi8 = try write("i8.npy", descr: "<i8", shape: [2], bytes: i64([5, 1 << 40]))
        XCTAssertEqual(try NpyReader.readRaw(path: pi8).integers(from: 0, count: 2), [5, 1 << 40])
    }

    func testOtherTypesAndLayoutsAreOneLineErrors() throws {
        let f8 = try write("d.npy", descr: "<f8", shape: [1, 2], bytes: [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(message { _ = try NpyReader.readRaw(path: f8, configFile: "run.yaml") },
                       "run.yaml: workload.file: \(f8): expected float32 ('<f4'), float16 ('<f2'), bfloat16 bits "
                       + "(with workload.dtype: bf16), int32 ('<i4') or int64 ('<i8'), got '<f8'")
        let big = try write("be.npy", descr: ">f4", shape: [1, 2], bytes: [UInt8](repeating: 0, count: 8))
        XCTAssertTrue(message { _ = try NpyReader.readRaw(path: big) }.hasSuffix("got '>f4'"))
        let scalar = try write("s.npy", descr: "<f4", shape: [], bytes: [0, 0, 0, 0])
        XCTAssertTrue(message { _ = try NpyReader.readRaw(path: scalar) }.hasSuffix("expected an array, got a 0-D scalar"))
        // The memory check counts the raw bytes and the decoded floats before reading.
        let half = try write("big.npy", descr: "<f2", shape: [100, 10], bytes: [UInt8](repeating: 0, count: 2000))
        XCTAssertTrue(message { _ = try NpyReader.readRaw(path: half, memoryLimit: 5999) }.contains("shape (100, 10) needs"))
        XCTAssertEqual(try NpyReader.readRaw(path: half, memoryLimit: 6000).count, 1000)
    }

    // MARK: shapes and replay

    /// Logits whose top-1 expert is a function of (step, layer, row): expert
    /// (s · 3 + l · 2 + row) mod E gets 10, the next one 5, the rest their index / 100.
    static func logits(steps: Int, layers: Int, rows: Int, experts E: Int) -> [Float] {
        var out: [Float] = []
        for s in 0..<steps {
            for l in 0..<layers {
                for row in 0..<rows {
                    let top = (s * 3 + l * 2 + row) % E
                    out += (0..<E).map { e in e == top ? 10 : e == (top + 1) % E ? 5 : Float(e) / 100 }
                }
            }
        }
        return out
    }

    func config(experts: Int = 4, topK: Int = 1, layers: Int, tokens: TokenCounts, workload: Workload,
                warmup: Int = 0) -> SimConfig {
        var c = SimConfig()
        c.model.experts = experts
        c.model.topK = topK
        c.model.layers = layers
        c.model.hidden = 4
        c.tokens = tokens
        c.workload = workload
        c.warmupSteps = warmup
        c.sourcePath = "run.yaml"
        return c
    }

    func firstChoices(_ router: inout Router, _ c: SimConfig, step: Int, rank: Int, layer: Int) throws -> [Int32] {
        var out = RouterOutput(config: c, rank: rank, worldSize: 2)
        try router.route(step: step, rank: rank, layer: layer, inputs: [], into: &out)
        return out.chosen
    }

    func testFourDimensionalTraceReplaysEachStepAndLayer() throws {
        let E = 4, S = 2, L = 3, rows = 5
        let values = Self.logits(steps: S, layers: L, rows: rows, experts: E)
        let p = try write("t4.npy", descr: "<f4", shape: [S, L, rows, E], bytes: f32(values))
        // Two ranks of 2 tokens: one row unused per slab; warm-up 1.
        let c = config(layers: L, tokens: .uniform(2), workload: .trace(files: [p]), warmup: 1)
        let trace = try RouterTrace(config: c, worldSize: 2)
        XCTAssertEqual(trace.steps, S)
        XCTAssertEqual(trace.layers, L)
        // Rank 1 holds rows 2..<4 of every slab, slab by slab.
        var expected: [Float] = []
        for slab in 0..<(S * L) { expected += values[((slab * rows + 2) * E)..<((slab * rows + 4) * E)] }
        XCTAssertEqual(trace.logitsByRank[1], expected)
        var router = try Router(config: c, worldSize: 2, trace: trace)
        // Run step 0 is warm-up (trace step 0); counted steps 0, 1, 2 are run steps 1, 2, 3
        // and replay trace steps 0, 1, 0.
        for (runStep, traceStep) in [(0, 0), (1, 0), (2, 1), (3, 0)] {
            for layer in 0..<L {
                for rank in 0..<2 {
                    let got = try firstChoices(&router, c, step: runStep, rank: rank, layer: layer)
                    let want = (0..<2).map { t in Int32((traceStep * 3 + layer * 2 + rank * 2 + t) % E) }
                    XCTAssertEqual(got, want, "run step \(runStep), layer \(layer), rank \(rank)")
                }
            }
        }
    }

    func testThreeDimensionalTraceAndFolderAndFloat16() throws {
        let E = 4, L = 2, rows = 4
        let values = Self.logits(steps: 1, layers: L, rows: rows, experts: E)
        let p3 = try write("t3.npy", descr: "<f4", shape: [L, rows, E], bytes: f32(values))
        let c3 = config(layers: L, tokens: .uniform(2), workload: .trace(files: [p3]))
        var r3 = try Router(config: c3, worldSize: 2)
        // Every step replays the one step; layer 1 differs from layer 0.
        for step in [0, 5] {
            XCTAssertEqual(try firstChoices(&r3, c3, step: step, rank: 0, layer: 0), [0, 1])
            XCTAssertEqual(try firstChoices(&r3, c3, step: step, rank: 0, layer: 1), [2, 3])
        }
        // The same logits as a folder of float16 files, 2 steps (step 1 = step 0 shifted by 3).
        let both = Self.logits(steps: 2, layers: L, rows: rows, experts: E)
        for s in 0..<2 {
            for l in 0..<L {
                let slab = both[((s * L + l) * rows * E)..<((s * L + l + 1) * rows * E)]
                let bits = slab.map { Float16($0).bitPattern }
                try write("folder/step_\(s)_layer_0\(l).npy", descr: "<f2", shape: [rows, E], bytes: u16(bits))
            }
        }
        try Data("notes".utf8).write(to: URL(fileURLWithPath: path("folder/README.txt")))  // ignored
        let cf = config(layers: L, tokens: .uniform(2), workload: .trace(files: [path("folder")]))
        let tf = try RouterTrace(config: cf, worldSize: 2)
        XCTAssertEqual([tf.steps, tf.layers], [2, L])
        var rf = try Router(config: cf, worldSize: 2, trace: tf)
        XCTAssertEqual(try firstChoices(&rf, cf, step: 0, rank: 1, layer: 1), [0, 1])  // (0 + 2 + 2 + t) mod 4
        XCTAssertEqual(try firstChoices(&rf, cf, step: 1, rank: 1, layer: 1), [3, 0])  // (3 + 2 + 2 + t) mod 4
        XCTAssertEqual(tf.logitsByRank[0]!.prefix(E), [10, 5, 0.02, 0.03].map { Float(Float16($0)) }[...])
    }

    func testShapeErrorsNameTheFileAndTheValue() throws {
        func err(_ c: SimConfig, size: Int = 2) -> String { message { _ = try RouterTrace(config: c, worldSize: size) } }
        let v = Self.logits(steps: 2, layers: 3, rows: 4, experts: 4)
        let p4 = try write("t4.npy", descr: "<f4", shape: [2, 3, 4, 4], bytes: f32(v))
        XCTAssertEqual(err(config(layers: 2, tokens: .uniform(2), workload: .trace(files: [p4]))),
                       "run.yaml: workload.file: \(p4): shape (2, 3, 4, 4) has 3 layers, model.layers is 2")
        XCTAssertEqual(err(config(experts: 8, layers: 3, tokens: .uniform(2), workload: .trace(files: [p4]))),
                       "run.yaml: workload.file: \(p4): expected 8 columns (model.experts), got 4 (shape (2, 3, 4, 4))")
        XCTAssertEqual(err(config(layers: 3, tokens: .uniform(3), workload: .trace(files: [p4]))),
                       "run.yaml: workload.file: \(p4): expected at least 6 rows (the tokens of all 2 ranks), got 4 "
                       + "per step and layer (shape (2, 3, 4, 4))")
        let p5 = try write("t5.npy", descr: "<f4", shape: [1, 2, 3, 4, 4], bytes: f32(v))
        XCTAssertEqual(err(config(layers: 3, tokens: .uniform(2), workload: .trace(files: [p5]))),
                       "run.yaml: workload.file: \(p5): expected [tokens, E], [layers, tokens, E] or [steps, layers, tokens, E], got shape (1, 2, 3, 4, 4)")
        let p1 = try write("t1.npy", descr: "<f4", shape: [4], bytes: f32([1, 2, 3, 4]))
        XCTAssertTrue(err(config(layers: 1, tokens: .uniform(2), workload: .trace(files: [p1]))).hasSuffix("got shape (4,)"))
        let pi = try write("ti.npy", descr: "<i4", shape: [4, 4], bytes: i32([Int32](repeating: 0, count: 16)))
        XCTAssertEqual(err(config(layers: 1, tokens: .uniform(2), workload: .trace(files: [pi]))),
                       "run.yaml: workload.file: \(pi): expected float logits (float32, float16 or bfloat16), got int32")
        // A NaN names the step, layer, row and column.
        var bad = v
        bad[((1 * 3 + 2) * 4 + 3) * 4 + 1] = .nan
        let pn = try write("tn.npy", descr: "<f4", shape: [2, 3, 4, 4], bytes: f32(bad))
        XCTAssertEqual(err(config(layers: 3, tokens: .uniform(2), workload: .trace(files: [pn]))),
                       "run.yaml: workload.file: \(pn): step 1, layer 2, row 3, column 1 is nan; logits must be finite")
        // Per-rank sources must agree on steps and layers.
        let q = try write("q.npy", descr: "<f4", shape: [3, 4, 4], bytes: f32(Array(v[0..<48])))
        XCTAssertEqual(err(config(layers: 3, tokens: .uniform(2), workload: .trace(files: [p4, q]))),
                       "run.yaml: workload.file: \(q) is (3, 4, 4), \(p4) is (2, 3, 4, 4); per-rank sources need the same steps and layers")
    }

    func testFolderErrors() throws {
        func err(_ folder: String, layers: Int = 2) -> String {
            message { _ = try RouterTrace(config: config(layers: layers, tokens: .uniform(1),
                                                         workload: .trace(files: [path(folder)])), worldSize: 2) }
        }
        let slab = f32(Self.logits(steps: 1, layers: 1, rows: 2, experts: 4))
        // Ragged: step 1 has layer 0 only.
        for name in ["step_0_layer_0", "step_0_layer_1", "step_1_layer_0"] {
            try write("ragged/\(name).npy", descr: "<f4", shape: [2, 4], bytes: slab)
        }
        XCTAssertEqual(err("ragged"), "run.yaml: workload.file: \(path("ragged")): step 1, layer 1 is missing "
                       + "(steps 0..<2 and layers 0..<2 are present, every pair needs its file step_<s>_layer_<l>.npy)")
        try write("named/step_0_layer_0.npy", descr: "<f4", shape: [2, 4], bytes: slab)
        try write("named/logits.npy", descr: "<f4", shape: [2, 4], bytes: slab)
        XCTAssertEqual(err("named", layers: 1), "run.yaml: workload.file: \(path("named")): unexpected file 'logits.npy' "
                       + "(a trace folder holds step_<s>_layer_<l>.npy files)")
        try write("twice/step_0_layer_0.npy", descr: "<f4", shape: [2, 4], bytes: slab)
        try write("twice/step_00_layer_0.npy", descr: "<f4", shape: [2, 4], bytes: slab)
        XCTAssertEqual(err("twice", layers: 1), "run.yaml: workload.file: \(path("twice")): "
                       + "'step_00_layer_0.npy' and 'step_0_layer_0.npy' are both step 0, layer 0")
        try write("mixed/step_0_layer_0.npy", descr: "<f4", shape: [2, 4], bytes: slab)
        try write("mixed/step_0_layer_1.npy", descr: "<f4", shape: [1, 4], bytes: Array(slab[0..<16]))
        XCTAssertEqual(err("mixed"), "run.yaml: workload.file: \(path("mixed")): step_0_layer_1.npy is (1, 4) float32, "
                       + "step_0_layer_0.npy is (2, 4) float32; every file must match")
        try write("deep/step_0_layer_0.npy", descr: "<f4", shape: [1, 2, 4], bytes: slab)
        XCTAssertEqual(err("deep", layers: 1), "run.yaml: workload.file: \(path("deep")): step_0_layer_0.npy: "
                       + "expected [tokens, E] in a trace folder, got shape (1, 2, 4)")
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        XCTAssertEqual(err("empty"), "run.yaml: workload.file: \(path("empty")): no step_<s>_layer_<l>.npy files in the folder")
        // A NaN in a folder file names that file.
        var nan = Self.logits(steps: 1, layers: 1, rows: 2, experts: 4)
        nan[6] = .infinity
        try write("nan/step_0_layer_0.npy", descr: "<f4", shape: [2, 4], bytes: f32(nan))
        XCTAssertEqual(err("nan", layers: 1), "run.yaml: workload.file: \(path("nan/step_0_layer_0.npy")): "
                       + "row 1, column 2 is inf; logits must be finite")
    }

    func testRowsRule() throws {
        let p = try write("t.npy", descr: "<f4", shape: [2, 7, 4], bytes: f32(Self.logits(steps: 1, layers: 2, rows: 7, experts: 4)))
        let c = config(layers: 2, tokens: .perRank([2, 3]), workload: .trace(files: [p]))
        XCTAssertEqual(try RouterTrace.unusedRowsNotice(config: c, worldSize: 2),
                       "trace: \(p) has 7 rows per step and layer, the run uses the first 5; 2 unused")
        let exact = config(layers: 2, tokens: .perRank([3, 4]), workload: .trace(files: [p]))
        XCTAssertNil(try RouterTrace.unusedRowsNotice(config: exact, worldSize: 2))
        XCTAssertNil(try RouterTrace.unusedRowsNotice(config: config(layers: 1, tokens: .uniform(1), workload: .uniform), worldSize: 2))
        // Fewer rows than tokens: the loader and the config check both refuse it.
        let short = config(layers: 2, tokens: .perRank([4, 4]), workload: .trace(files: [p]))
        let want = "run.yaml: workload.file: \(p): expected at least 8 rows (the tokens of all 2 ranks), got 7 per step and layer (shape (2, 7, 4))"
        XCTAssertEqual(message { _ = try RouterTrace(config: short, worldSize: 2) }, want)
        XCTAssertEqual(message { try ConfigLoader.validate(short, worldSize: 2) }, want)
    }

    // MARK: top-k traces

    func topk(_ ids: [Int64], _ weights: [Float], shape: [Int], idDescr: String = "<i8") throws -> (String, String) {
        let i = try write("ids-\(UUID().uuidString).npy", descr: idDescr, shape: shape,
                          bytes: idDescr == "<i8" ? i64(ids) : i32(ids.map { Int32($0) }))
        let w = try write("w-\(UUID().uuidString).npy", descr: "<f4", shape: shape, bytes: f32(weights))
        return (i, w)
    }

    func testTopKTraceGivesTheRecordedChoicesAndWeights() throws {
        // [steps 2, layers 1, tokens 4, k 2] over E = 4.
        let ids: [Int64] = [3, 1, 0, 2, 2, 3, 1, 0,   0, 1, 3, 2, 1, 2, 2, 0]
        let weights: [Float] = [0.7, 0.3, 0.5, 0.5, 0.9, 0.1, 0.6, 0.4,   1, 0, 0.25, 0.75, 0.5, 0.5, 0.2, 0.8]
        let (pi, pw) = try topk(ids, weights, shape: [2, 1, 4, 2], idDescr: "<i4")
        let c = config(topK: 2, layers: 1, tokens: .uniform(2), workload: .topkTrace(ids: [pi], weights: [pw]))
        var router = try Router(config: c, worldSize: 2)
        let reference = try ReferenceRouter(config: c, worldSize: 2)
        for step in 0..<3 {
            for rank in 0..<2 {
                var out = RouterOutput(config: c, rank: rank, worldSize: 2)
                try router.route(step: step, rank: rank, layer: 0, inputs: [], into: &out)
                let base = ((step % 2) * 4 + rank * 2) * 2
                XCTAssertEqual(out.chosen, ids[base..<(base + 4)].map { Int32($0) }, "step \(step) rank \(rank)")
                XCTAssertEqual(out.weights, Array(weights[base..<(base + 4)]))
                // The preference: the k choices, then the others by index.
                XCTAssertEqual(Array(out.preference(token: 0)),
                               [Int32(ids[base]), Int32(ids[base + 1])] + (0..<4).map { Int32($0) }.filter { $0 != ids[base] && $0 != ids[base + 1] })
                // Scores hold each slot's weight at its expert.
                XCTAssertEqual(out.scores[Int(ids[base])], weights[base])
                XCTAssertEqual(out.scores.reduce(0, +), weights[base..<(base + 4)].reduce(0, +), accuracy: 1e-6)
                XCTAssertEqual(out, try reference.route(step: step, rank: rank, layer: 0))
            }
        }
    }

    func testTopKTraceErrors() throws {
        func err(_ ids: [Int64], _ w: [Float], shape: [Int] = [2, 2], idDescr: String = "<i8", layers: Int = 1) throws -> String {
            let (pi, pw) = try topk(ids, w, shape: shape, idDescr: idDescr)
            let c = config(topK: 2, layers: layers, tokens: .uniform(1), workload: .topkTrace(ids: [pi], weights: [pw]))
            return message { _ = try RouterTrace(config: c, worldSize: 2) }
                .replacingOccurrences(of: pi, with: "IDS").replacingOccurrences(of: pw, with: "W")
        }
        XCTAssertEqual(try err([0, 1, 2, 4], [1, 1, 1, 1]),
                       "run.yaml: workload.topk_ids: IDS: row 1, column 1 is expert 4; indices must be in [0, 4) (model.experts)")
        XCTAssertEqual(try err([0, 1, -1, 2], [1, 1, 1, 1]),
                       "run.yaml: workload.topk_ids: IDS: row 1, column 0 is expert -1; indices must be in [0, 4) (model.experts)")
        XCTAssertEqual(try err([0, 1, 2, 2], [1, 1, 1, 1]),
                       "run.yaml: workload.topk_ids: IDS: row 1, column 1 repeats expert 2 in its token")
        XCTAssertEqual(try err([0, 1, 2, 3], [1, -0.5, 1, 1]),
                       "run.yaml: workload.topk_weights: W: row 0, column 1 is -0.5; weights must be finite and ≥ 0")
        XCTAssertEqual(try err([0, 1, 2, 3], [1, 1, .nan, 1]),
                       "run.yaml: workload.topk_weights: W: row 1, column 0 is nan; weights must be finite and ≥ 0")
        XCTAssertEqual(try err([0, 1, 2, 3, 0, 1], [1, 1, 1, 1, 1, 1], shape: [2, 3]),
                       "run.yaml: workload.topk_ids: IDS: expected 2 columns (model.top_k), got 3")
        XCTAssertEqual(try err([0, 1, 2, 3], [1, 1, 1, 1], shape: [1, 2, 2], layers: 2),
                       "run.yaml: workload.topk_ids: IDS: shape (1, 2, 2) has 1 layers, model.layers is 2")
        // Indices given as floats, weights as integers: each names its key.
        let fi = try write("fi.npy", descr: "<f4", shape: [2, 2], bytes: f32([0, 1, 2, 3]))
        let iw = try write("iw.npy", descr: "<i4", shape: [2, 2], bytes: i32([0, 1, 2, 3]))
        func pair(_ i: String, _ w: String) -> String {
            message { _ = try RouterTrace(config: config(topK: 2, layers: 1, tokens: .uniform(1),
                                                         workload: .topkTrace(ids: [i], weights: [w])), worldSize: 2) }
        }
        XCTAssertEqual(pair(fi, fi), "run.yaml: workload.topk_ids: \(fi): expected int32 or int64 expert indices, got float32")
        XCTAssertEqual(pair(iw, iw), "run.yaml: workload.topk_weights: \(iw): expected float weights (float32, float16 or bfloat16), got int32")
        // Weights of another shape than the indices.
        let w3 = try write("w3.npy", descr: "<f4", shape: [3, 2], bytes: f32([1, 1, 1, 1, 1, 1]))
        let i2 = try write("i2.npy", descr: "<i4", shape: [2, 2], bytes: i32([0, 1, 2, 3]))
        XCTAssertEqual(pair(i2, w3), "run.yaml: workload.topk_weights: \(w3) is (3, 2), \(i2) is (2, 2); weights and indices must have one shape")
        // One index source per rank but one weight source for both: refused by the config
        // check and by the trace itself, naming both counts.
        let w4 = try write("w4.npy", descr: "<f4", shape: [2, 2], bytes: f32([1, 1, 1, 1]))
        let uneven = config(topK: 2, layers: 1, tokens: .uniform(1), workload: .topkTrace(ids: [i2, i2], weights: [w4]))
        let counts = "run.yaml: workload.topk_weights: 1 sources, 2 for workload.topk_ids; give as many of each"
        XCTAssertEqual(message { try ConfigValidator.check(uneven, worldSize: 2) }, counts)
        XCTAssertEqual(message { _ = try RouterTrace(config: uneven, worldSize: 2) }, counts)
        // Reroute needs a preference beyond k.
        var c = config(topK: 2, layers: 1, tokens: .uniform(1), workload: .topkTrace(ids: [i2], weights: [w3]))
        c.overflow.policy = .reroute
        XCTAssertEqual(message { try ConfigValidator.check(c) },
                       "run.yaml: overflow.policy: reroute needs each token's preference beyond its k choices, which a top-k trace "
                       + "does not record; use overflow.policy: drop, or a logits trace (workload.kind: trace)")
    }

    func testTraceKeysParse() throws {
        let yaml = """
            model: {experts: 4, top_k: 2}
            workload: {kind: topk_trace, topk_ids: ids.npy, topk_weights: [w0.npy, w1.npy], dtype: bf16}
            """
        let c = try ConfigLoader.parse(yaml: yaml, file: path("run.yaml"))
        XCTAssertEqual(c.workload, .topkTrace(ids: [path("ids.npy")], weights: [path("w0.npy"), path("w1.npy")], dtype: .bf16))
        let t = try ConfigLoader.parse(yaml: "workload: {kind: trace, files: [a.npy, b], dtype: auto}", file: nil)
        XCTAssertEqual(t.workload, .trace(files: ["a.npy", "b"]))
        XCTAssertThrowsError(try ConfigLoader.parse(yaml: "workload: {kind: trace, file: a.npy, dtype: fp8}", file: nil)) {
            XCTAssertEqual("\($0)", "workload.dtype: expected one of auto, bf16, got 'fp8'")
        }
        XCTAssertThrowsError(try ConfigLoader.parse(yaml: "workload: {kind: topk_trace, topk_ids: a.npy}", file: nil)) {
            XCTAssertEqual("\($0)", "workload.topk_weights: required for workload topk_trace")
        }
    }
}

extension RouterTraceFormatTests {
    /// The memory estimate's trace term: a source's bytes, plus up to twice them decoded,
    /// the rank's share of a split source; a folder counts its .npy files only.
    func testMemoryEstimateCountsTraceSources() throws {
        let p = try write("m.npy", descr: "<f2", shape: [8, 4], bytes: [UInt8](repeating: 0, count: 64))
        let size = Double(try XCTUnwrap(FileManager.default.attributesOfItem(atPath: p)[.size] as? Int))
        XCTAssertEqual(size, Double(NpyWriter.header(descr: "<f2", shape: [8, 4]).count + 64))
        XCTAssertEqual(MemoryEstimate.traceBytes([p], rank: 1, tokens: 2, totalTokens: 8), size + 2 * size / 4)
        XCTAssertEqual(MemoryEstimate.traceBytes([p, p], rank: 1, tokens: 2, totalTokens: 8), 3 * size)
        try write("mf/step_0_layer_0.npy", descr: "<f4", shape: [4, 4], bytes: [UInt8](repeating: 0, count: 64))
        try write("mf/step_1_layer_0.npy", descr: "<f4", shape: [4, 4], bytes: [UInt8](repeating: 0, count: 64))
        try Data(count: 1000).write(to: URL(fileURLWithPath: path("mf/notes.txt")))
        XCTAssertEqual(MemoryEstimate.traceSourceSize(path("mf")),
                       Double(2 * (NpyWriter.header(descr: "<f4", shape: [4, 4]).count + 64)))
        XCTAssertEqual(MemoryEstimate.traceSourceSize(path("absent")), 0)
    }
}
