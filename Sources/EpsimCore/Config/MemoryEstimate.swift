import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory a run of a layout will take in one process, estimated from the config
/// before anything is allocated, so a layout that cannot fit is refused in one line
/// instead of dying in the allocator after minutes.
///
/// It sums, for every rank the process holds (all of them with `--emulate`, one under
/// mpirun), the buffers the runtime allocates up front: expert and gate weights, the
/// layer rows [T × H] per layer, router outputs and decisions [T × E], [T × k], wire
/// and expert buffers (rows out = T·k, rows in = the balanced share of the world's
/// assignments), per-step timer and metric storage (gathered to every rank), trace
/// files (read whole, as bytes then floats), and, with `--verify`, rank 0's copies of
/// every rank's rows. Arithmetic is in Double, so no product overflows.
///
/// Measured (emulated, debug build, configs/default.yaml scaled): peak RSS is within
/// 0.5× to 1.5× of the estimate once the estimate exceeds ~256 MiB; below that the
/// fixed process baseline dominates. Routing skew moves the receive side above the
/// balanced share, which the 1.5× allows for.
public struct MemoryEstimate: Sendable {
    /// One kind of buffer, summed over the process's ranks.
    public struct Term: Sendable {
        public var name: String
        /// The config keys whose product sizes it, and their values (same order).
        public var keys: [String]
        public var values: [String]
        public var bytes: Double

        /// `tokens × model.hidden = 512 × 10000000`.
        public var factors: String {
            keys.joined(separator: " × ") + " = " + values.joined(separator: " × ")
        }
    }

    public var terms: [Term]
    /// Ranks the process holds.
    public var ranks: Int
    public var total: Double { terms.reduce(0) { $0 + $1.bytes } }
    public var largest: Term { terms.max { $0.bytes < $1.bytes }! }

    /// What a process holds before any layout buffer: Swift runtime, BLAS, MPI.
    public static let baselineBytes = 64.0 * 1024 * 1024
    /// Per counted step and rank: 9 phase timers and 15 step figures (PhaseTimer,
    /// StepRecorder), 8 bytes each.
    static let perStepValues = 9.0 + 15.0

    /// The estimate for the ranks in `processRanks` of a world of `worldSize` ranks.
    public init(_ c: SimConfig, layout: ExpertLayout, processRanks: Range<Int>, verify: Bool = false) {
        let m = c.model, P = Double(layout.ranks)
        let E = Double(m.experts), k = Double(m.topK), H = Double(m.hidden), F = Double(m.ffn), L = Double(m.layers)
        let tokens = (0..<layout.ranks).map { Double(c.tokens(rank: $0, size: layout.ranks)) }
        let totalTokens = tokens.reduce(0, +)
        var real = false
        if case .real = c.compute { real = true }
        let expertBytes = Double(ExpertWeights.bytes(hidden: m.hidden, ffn: m.ffn, activation: m.activation))
        let header = c.dispatch.dedup == .rank ? DedupHeader.bytes(topK: m.topK) : 0
        let rowBytes = Double(max(header + WireCodec.bytesPerRow(c.precision.dispatch, hidden: m.hidden),
                                  WireCodec.bytesPerRow(c.precision.combine, hidden: m.hidden)))

        var weights = 0.0, gate = 0.0, rows = 0.0, routing = 0.0, wire = 0.0, steps = 0.0, trace = 0.0, verifyCopies = 0.0
        for r in processRanks {
            let T = tokens[r], local = Double(layout.local[r].count)
            if real { weights += L * (local + Double(m.sharedExperts)) * expertBytes }
            if case .gating = c.workload { gate += L * H * E * 4 }
            rows += (L + 1) * T * H * 4
            // RouterOutput (preference, logits, scores [T×E]; chosen, weights [T×k]),
            // RoutingDecisions (17 B per assignment), the decider's scratch (24 B, and
            // 16 B of sort keys for the score priority order).
            routing += L * T * (E * 12 + k * 8 + k * 17) + T * k * 40 + P * E * 8
            let rowsOut = T * k
            let rowsIn = totalTokens * k * local / E
            let block = max(local > 0 ? rowsIn / local : 0, m.sharedExperts > 0 ? T : 0)
            // Send and receive buffers; decoded expert input and output [rows in × H];
            // the sgemm scratch (two [1.5 · block × F]).
            wire += rowsOut * rowBytes + rowsIn * rowBytes + (real ? rowsIn * H * 8 + 2 * 1.5 * block * F * 4 : 0)
            // Own per-step storage plus every rank's, gathered to every rank.
            steps += Double(c.steps) * 8 * (MemoryEstimate.perStepValues * (1 + P) + E + 2)
            if r == 0 { steps += Double(c.steps) * 8 * (P * 15 + E) }
            if case let .trace(files, _) = c.workload {
                trace += MemoryEstimate.traceBytes(files, rank: r, tokens: T, totalTokens: totalTokens)
            }
            if case let .topkTrace(ids, weights, _) = c.workload {
                trace += MemoryEstimate.traceBytes(ids, rank: r, tokens: T, totalTokens: totalTokens)
                    + MemoryEstimate.traceBytes(weights, rank: r, tokens: T, totalTokens: totalTokens)
            }
            if verify && r == 0 {
                verifyCopies += (L + 1) * totalTokens * H * 4 * 2 + totalTokens * (E * 12 + k * 8) * 2
                // The reference builds one layer's routed and shared experts at a time.
                if real { verifyCopies += (E + Double(m.sharedExperts)) * expertBytes }
            }
        }
        let tokenText: String
        switch c.tokens {
        case let .uniform(t): tokenText = String(t)
        case let .perRank(list): tokenText = "[" + list.map(String.init).joined(separator: ", ") + "]"
        }
        func term(_ name: String, _ keys: [String], _ bytes: Double) -> Term {
            let values = keys.map { key -> String in
                switch key {
                case "tokens": return tokenText
                case "steps": return String(c.steps)
                case "model.hidden": return String(m.hidden)
                case "model.ffn": return String(m.ffn)
                case "model.experts": return String(m.experts)
                case "model.top_k": return String(m.topK)
                case "model.layers": return String(m.layers)
                case "workload.file":
                    return c.workload.traceSources?.files.joined(separator: ", ") ?? ""
                default: return ""
                }
            }
            return Term(name: name, keys: keys, values: values, bytes: bytes)
        }
        var terms = [
            term("expert weights", ["model.layers", "model.experts", "model.hidden", "model.ffn"], weights),
            term("gate matrices", ["model.layers", "model.hidden", "model.experts"], gate),
            term("token rows", ["model.layers", "tokens", "model.hidden"], rows),
            term("router outputs and decisions", ["model.layers", "tokens", "model.experts"], routing),
            term("wire and expert buffers", ["tokens", "model.top_k", "model.hidden"], wire),
            term("per-step timer and metric storage", ["steps"], steps),
        ]
        if case .trace = c.workload { terms.append(term("trace logits", ["workload.file"], trace)) }
        if case .topkTrace = c.workload { terms.append(term("top-k trace", ["workload.file"], trace)) }
        if verify { terms.append(term("verification copies", ["tokens", "model.hidden"], verifyCopies)) }
        terms.append(Term(name: "process baseline", keys: [], values: [], bytes: MemoryEstimate.baselineBytes))
        self.terms = terms
        ranks = processRanks.count
    }

    /// Address space each rank maps beyond its data (Debian 12's OpenBLAS 0.3.21): its
    /// thread's stack (16 MiB for an emulated rank) and OpenBLAS's buffer for a thread
    /// calling sgemm (128 MiB, mapped at its first call). Measured: 2 emulated ranks of
    /// a tiny layout run with 305 MiB of address space left and spin inside OpenBLAS
    /// with 110 MiB (malloc's per-thread arenas fall back to the main one when short).
    public static let addressSpacePerRank = 144.0 * 1024 * 1024

    /// Throws when the estimate exceeds `limit`: one line naming the largest term's key
    /// and value, the estimate and the limit. Under RLIMIT_AS, the estimate plus
    /// `addressSpacePerRank` for each rank must also fit in the address space left.
    /// `ranksInProcess` of the estimate's ranks share this process's address space (all
    /// of them for emulated ranks, one under MPI): RLIMIT_AS limits each process.
    public func check(_ c: SimConfig, against limit: MemoryLimit = .current(),
                      ranksInProcess: Int? = nil) throws(ConfigError) {
        // The process baseline is mapped already (it is in the virtual size subtracted);
        // the rest is shared out over the ranks, this process holding its share.
        let inProcess = Double(min(ranksInProcess ?? ranks, ranks))
        let data = (total - MemoryEstimate.baselineBytes) * inProcess / Double(max(ranks, 1))
        if let space = limit.addressSpace, data + inProcess * MemoryEstimate.addressSpacePerRank > space {
            let reserved = inProcess * MemoryEstimate.addressSpacePerRank
            throw ConfigError(
                file: c.sourcePath, keyPath: "",
                "the run needs about \(memoryText(data + reserved)) more address space for "
                    + "\(inProcess == 1 ? "one rank" : "\(Int(inProcess)) ranks") in this process (\(memoryText(data)) of data, "
                    + "\(memoryText(reserved)) of thread stacks and BLAS buffers), more than the "
                    + "\(memoryText(max(0, space))) left under RLIMIT_AS (ulimit -v)")
        }
        guard total > limit.bytes else { return }
        let big = largest
        let who = ranks == 1 ? "one rank" : "\(ranks) ranks on this machine"
        // Name the override that set one of the factors, if any did.
        let origin = big.keys.lazy.compactMap { key in c.origin(of: key).flatMap { $0 == c.sourcePath ? nil : $0 } }.first
        throw ConfigError(
            file: origin ?? c.sourcePath, keyPath: "",
            "\(big.factors) needs an estimated \(memoryText(big.bytes)) of \(big.name); the run needs about "
                + "\(memoryText(total)) for \(who), more than the \(memoryText(max(0, limit.bytes))) available (\(limit.source))")
    }

    /// One line for `epsim validate`.
    public var summary: String {
        let big = largest
        return "memory estimate: \(memoryText(total)) for \(ranks) rank\(ranks == 1 ? "" : "s") in this process "
            + "(largest: \(big.name), \(memoryText(big.bytes)))"
    }

    /// A file's size in bytes (0 when it cannot be read: the loader reports that).
    /// A trace source's share for rank `r`: its bytes as read, and its rows decoded to
    /// 4-byte values (twice the bytes at most, for 2-byte elements), of which the rank
    /// keeps its tokens' share when one source is split across ranks.
    static func traceBytes(_ sources: [String], rank r: Int, tokens T: Double, totalTokens: Double) -> Double {
        let raw = traceSourceSize(sources.count == 1 ? sources[0] : sources[r])
        return raw + 2 * raw * (sources.count == 1 && totalTokens > 0 ? T / totalTokens : 1)
    }

    /// Bytes of a trace file, or of the .npy files of a trace folder.
    static func traceSourceSize(_ path: String) -> Double {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return Double(info.st_size) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".npy") }.reduce(0) { $0 + fileSize(path + "/" + $1) }
    }

    static func fileSize(_ path: String) -> Double {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Double(info.st_size)
    }
}
