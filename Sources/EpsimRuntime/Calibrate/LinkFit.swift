import CBLAS
import EpsimCore

/// The all-to-allv model of a link, fitted to measured sweeps: one latency, one
/// bandwidth per device and, where the devices share one, the node's, as the
/// target-system model uses them (../shared/DESIGN.md, "Target system";
/// `AllToAllModel`): time = latency + max(bytes / bandwidth, node bytes / node
/// bandwidth), where `bytes` is what one rank sends (or receives, the larger) over the
/// link in one all-to-allv and `node bytes` what all the node's ranks send.
public struct LinkFit: Sendable, Equatable {
    /// Seconds, ≥ 0.
    public var latencySeconds: Double
    /// Bytes per second, > 0.
    public var bytesPerSecond: Double
    /// Bytes per second the node's ranks share, > 0; nil: not limited.
    public var nodeBytesPerSecond: Double?
    /// Messages of at most `eagerBytes` per peer pay `eagerLatencySeconds` instead of
    /// `latencySeconds` (both nil: no eager limit).
    public var eagerBytes: Int?
    public var eagerLatencySeconds: Double?

    public init(latencySeconds: Double, bytesPerSecond: Double, nodeBytesPerSecond: Double? = nil, eagerBytes: Int? = nil,
                eagerLatencySeconds: Double? = nil) {
        self.latencySeconds = latencySeconds
        self.bytesPerSecond = bytesPerSecond
        self.nodeBytesPerSecond = nodeBytesPerSecond
        self.eagerBytes = eagerBytes
        self.eagerLatencySeconds = eagerLatencySeconds
    }

    /// The fit in a system file's units (µs, GB/s); the eager limit is the link's own.
    public var cost: LinkCost {
        LinkCost(gbps: bytesPerSecond / 1e9, latencyMicros: latencySeconds * 1e6, nodeGbps: nodeBytesPerSecond.map { $0 / 1e9 },
                 eagerLatencyMicros: eagerLatencySeconds.map { $0 * 1e6 })
    }

    /// The model's time for `bytes` on one rank's link while the node's ranks move
    /// `nodeBytes` in all, in messages of `message` bytes (nil: above any eager limit),
    /// seconds.
    public func seconds(bytes: Double, nodeBytes: Double = 0, message: Int? = nil) -> Double {
        var latency = latencySeconds
        if let m = message, let limit = eagerBytes, let eager = eagerLatencySeconds, m <= limit { latency = eager }
        return latency + max(bytes / bytesPerSecond, nodeBytesPerSecond.map { nodeBytes / $0 } ?? 0)
    }

    public struct FitError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Fits the model to points (`bytes[i]`, `seconds[i]`) by least squares on the
    /// relative error, Σ ((latency + bytes/bandwidth) / seconds − 1)²: a sweep spans
    /// six orders of magnitude of time, and plain least squares would let the largest
    /// messages alone decide the latency. Closed form (two normal equations); a
    /// negative latency is refitted as 0. Needs two distinct byte counts and times
    /// that grow with them.
    public static func fit(bytes: [Double], seconds: [Double]) throws -> LinkFit {
        guard bytes.count == seconds.count else {
            throw FitError(description: "\(bytes.count) byte counts for \(seconds.count) times")
        }
        guard bytes.allSatisfy({ $0.isFinite && $0 >= 0 }), seconds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw FitError(description: "byte counts must be finite and ≥ 0, times finite and > 0")
        }
        guard Set(bytes).count >= 2 else {
            throw FitError(description: "a fit needs at least two different message sizes, got \(Set(bytes).count)")
        }
        // Unknowns a (latency) and b (seconds per byte); minimize Σ (a·u + b·v − 1)²
        // with u = 1/t, v = x/t.
        var suu = 0.0, suv = 0.0, svv = 0.0, su = 0.0, sv = 0.0
        for (x, t) in zip(bytes, seconds) {
            let u = 1 / t, v = x / t
            suu += u * u; suv += u * v; svv += v * v; su += u; sv += v
        }
        let det = suu * svv - suv * suv
        var a = (su * svv - sv * suv) / det
        var b = (suu * sv - suv * su) / det
        if !(det > 0) || !a.isFinite || !b.isFinite || a < 0 {
            // Latency 0: the one-parameter fit of b.
            a = 0
            b = sv / svv
        }
        guard b > 0, b.isFinite else {
            throw FitError(description: "the all-to-allv times do not grow with the message size, so there is no "
                           + "bandwidth to fit; raise --max-bytes, or calibrate on a quieter host")
        }
        return LinkFit(latencySeconds: a, bytesPerSecond: 1 / b)
    }

    /// |model − measured| / measured for each point.
    public func relativeErrors(bytes: [Double], seconds: [Double]) -> [Double] {
        zip(bytes, seconds).map { abs(self.seconds(bytes: $0) - $1) / $1 }
    }

    /// |model − measured| / measured for each point of a sweep.
    public func relativeErrors(_ sweep: Sweep) -> [Double] {
        sweep.seconds.indices.map {
            abs(seconds(bytes: sweep.bytes[$0], nodeBytes: sweep.nodeBytes[$0], message: sweep.messages[$0]) - sweep.seconds[$0])
                / sweep.seconds[$0]
        }
    }

    /// One traffic pattern's sweep: per point, the bytes per peer (one message), one
    /// rank's link bytes, the node's, and the measured seconds. The node's bytes are a
    /// fixed multiple of the rank's (the pattern's `ratio`).
    public struct Sweep: Sendable, Equatable {
        public var messages: [Int]
        public var bytes: [Double]
        public var nodeBytes: [Double]
        public var seconds: [Double]

        public init(messages: [Int], bytes: [Double], nodeBytes: [Double], seconds: [Double]) {
            self.messages = messages
            self.bytes = bytes
            self.nodeBytes = nodeBytes
            self.seconds = seconds
        }

        /// Node bytes per rank byte.
        var ratio: Double { bytes.first.map { nodeBytes[0] / max($0, 1) } ?? 0 }
    }

    /// How `fit(allPairs:oneSided:eager:)` treats the transport's eager protocol.
    public enum EagerLimit: Sendable, Equatable {
        /// Found from the sweep: the message size after which the latency steps up.
        case find
        /// Given (the dispatch's sweep found it; nil: none).
        case known(Int?)
    }

    /// An eager limit is kept only when it cuts the fit's sum of squared relative errors
    /// to at most this share of the fit without one (which must miss by more than 0.1 %
    /// rms): a transport without an eager
    /// protocol (the emulated one copies every message alike) gains little from a split,
    /// Open MPI's shared memory, whose latency steps from 9 to 25 µs at 4 KiB here, most.
    public static let eagerSplitGain = 0.5

    /// Fits the link to two patterns that load the node differently for the same bytes
    /// per rank: `allPairs` (every rank sends to every rank; node bytes P²/(P − 1) × rank bytes)
    /// and `oneSided` (half the ranks send to the other half; a smaller multiple).
    /// Node bytes count the ranks' own (self) bytes, which copy through the same memory.
    ///
    /// Least squares on the relative error (as `fit(bytes:seconds:)`; LAPACK's dgels) of
    /// time = latency + slope × rank bytes, with one slope per pattern, the larger of
    /// 1/bandwidth and ratio/node bandwidth, and one latency, or two: messages up to
    /// the eager limit (`eager`; found as the split of the sizes that fits best, kept
    /// when it cuts the squared error to `eagerSplitGain` of none) pay the eager
    /// latency, larger ones the other. A negative latency is refitted as 0. When the
    /// all-pairs slope is the steeper, the node binds it: node bandwidth = its ratio /
    /// its slope, and the rank's bandwidth = 1 / the one-sided slope, or, when that
    /// slope is below what the node allows the one-sided pattern (ratio / node
    /// bandwidth), the node binds both: one slope on node bytes for both patterns, and a
    /// rank alone gets the node's bandwidth / the one-sided ratio. Otherwise no shared
    /// limit shows, and one slope is fitted to both patterns (node bandwidth nil). Each
    /// case is the least-squares optimum of time = latency + max(rank bytes / bandwidth,
    /// node bytes / node bandwidth) over its region.
    ///
    /// Throws when either pattern has fewer than two sizes or times that do not grow.
    public static func fit(allPairs: Sweep, oneSided: Sweep, eager: EagerLimit = .find) throws -> LinkFit {
        let sweeps = [allPairs, oneSided]
        for sweep in sweeps {
            guard sweep.bytes.count == sweep.seconds.count, sweep.nodeBytes.count == sweep.seconds.count,
                  sweep.messages.count == sweep.seconds.count else {
                throw FitError(description: "\(sweep.bytes.count) byte counts for \(sweep.seconds.count) times")
            }
            guard sweep.bytes.allSatisfy({ $0.isFinite && $0 >= 0 }), sweep.seconds.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw FitError(description: "byte counts must be finite and ≥ 0, times finite and > 0")
            }
            guard Set(sweep.bytes).count >= 2 else {
                throw FitError(description: "a fit needs at least two different message sizes, got \(Set(sweep.bytes).count)")
            }
        }
        let noGrowth = FitError(description: "the all-to-allv times do not grow with the message size, so there is no "
                                + "bandwidth to fit; raise --max-bytes, or calibrate on a quieter host")
        // The eager limits to try: none, and every size below which one point and above
        // which two sizes of each pattern lie.
        var limits: [Int?] = [nil]
        if case .known(let limit) = eager {
            limits = [limit]
        } else {
            for m in Set(allPairs.messages).sorted() {
                let above = sweeps.allSatisfy { Set($0.messages.filter { $0 > m }).count >= 2 }
                if above { limits.append(m) }
            }
        }
        var best: (limit: Int?, solution: Solution)?
        var withoutLimit: Solution?
        for limit in limits {
            guard let solution = Solution(sweeps, eager: limit, slope: .perSweep) else { continue }
            if limit == nil { withoutLimit = solution }
            if best == nil || solution.squaredError < best!.solution.squaredError { best = (limit, solution) }
        }
        // A limit must earn its parameter: halve the squared error of a fit without one
        // that misses by more than 0.1 % (rms) to begin with.
        let points = Double(sweeps.reduce(0) { $0 + $1.seconds.count })
        if case .find = eager, let kept = best, kept.limit != nil, let none = withoutLimit,
           kept.solution.squaredError > eagerSplitGain * none.squaredError || none.squaredError <= 1e-6 * points {
            best = (nil, none)
        }
        guard let (limit, split) = best else { throw noGrowth }
        let slopes = (all: split.slopes[0], one: split.slopes[1])
        if slopes.all > slopes.one, allPairs.ratio > oneSided.ratio {
            if slopes.one >= slopes.all * oneSided.ratio / allPairs.ratio {
                // The node binds all pairs, the rank the one-sided.
                return LinkFit(latencySeconds: split.latency, bytesPerSecond: 1 / slopes.one,
                               nodeBytesPerSecond: allPairs.ratio / slopes.all, eagerBytes: limit,
                               eagerLatencySeconds: split.eagerLatency)
            }
            // One rank alone ran faster than its share of the node allows: the node binds
            // both, one slope on node bytes; a rank alone gets the node's share of it.
            guard let node = Solution(sweeps, eager: limit, slope: .node) else { throw noGrowth }
            return LinkFit(latencySeconds: node.latency, bytesPerSecond: 1 / (node.slopes[0] * oneSided.ratio),
                           nodeBytesPerSecond: 1 / node.slopes[0], eagerBytes: limit, eagerLatencySeconds: node.eagerLatency)
        }
        guard let shared = Solution(sweeps, eager: limit, slope: .shared) else { throw noGrowth }
        return LinkFit(latencySeconds: shared.latency, bytesPerSecond: 1 / shared.slopes[0], eagerBytes: limit,
                       eagerLatencySeconds: shared.eagerLatency)
    }

    /// One least-squares fit of latencies and slopes (see `fit(allPairs:oneSided:eager:)`).
    private struct Solution {
        var latency: Double
        var eagerLatency: Double?
        /// Seconds per byte, one per sweep or one for all (`Slope`).
        var slopes: [Double]
        var squaredError: Double

        /// What the slopes multiply: each sweep's rank bytes with its own slope, every
        /// sweep's rank bytes with one, or every sweep's node bytes with one.
        enum Slope { case perSweep, shared, node }

        /// Nil when a slope comes out ≤ 0 or the system is singular.
        init?(_ sweeps: [Sweep], eager limit: Int?, slope: Slope) {
            // Columns: the latency, the eager latency (with a limit), the slopes. Each
            // point's row is divided by its time, so that its residual is relative.
            let slopeColumns = slope == .perSweep ? sweeps.count : 1
            var latencyColumns = limit == nil ? [0] : [0, 1]
            while true {
                let n = 2 + slopeColumns
                var rows: [[Double]] = []
                for (k, sweep) in sweeps.enumerated() {
                    for i in sweep.seconds.indices {
                        var row = [Double](repeating: 0, count: n)
                        let t = sweep.seconds[i]
                        let eager = limit.map { sweep.messages[i] <= $0 } ?? false
                        if latencyColumns.contains(eager ? 1 : 0) { row[eager ? 1 : 0] = 1 / t }
                        row[2 + (slope == .perSweep ? k : 0)] = (slope == .node ? sweep.nodeBytes[i] : sweep.bytes[i]) / t
                        rows.append(row)
                    }
                }
                // Drop the columns that are all zero (no eager point, or a latency fixed at 0).
                let used = (0..<n).filter { c in rows.contains { $0[c] != 0 } }
                guard let x = LeastSquares.solve(rows.map { row in used.map { row[$0] } },
                                                 targets: [Double](repeating: 1, count: rows.count)) else { return nil }
                var full = [Double](repeating: 0, count: n)
                for (j, c) in used.enumerated() { full[c] = x[j] }
                if let negative = latencyColumns.first(where: { full[$0] < 0 }) {
                    latencyColumns.removeAll { $0 == negative }
                    continue
                }
                let slopes = Array(full[2...])
                guard slopes.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
                latency = full[0]
                eagerLatency = limit == nil ? nil : full[1]
                self.slopes = slopes
                squaredError = rows.reduce(0) { sum, row in
                    let r = zip(row, full).reduce(0) { $0 + $1.0 * $1.1 } - 1
                    return sum + r * r
                }
                return
            }
        }
    }
}

/// Linear least squares through LAPACK (OpenBLAS's dgels, QR).
enum LeastSquares {
    /// The x minimizing ‖A x − b‖₂ for A = `rows` (m × n, m ≥ n, full rank) and b =
    /// `targets`; nil when A is rank-deficient or the call fails.
    static func solve(_ rows: [[Double]], targets: [Double]) -> [Double]? {
        let m = rows.count, n = rows.first?.count ?? 0
        guard n > 0, m >= n, targets.count == m else { return nil }
        var a = [Double](repeating: 0, count: m * n)  // column-major
        for i in 0..<m { for j in 0..<n { a[j * m + i] = rows[i][j] } }
        var b = targets
        var mm = Int32(m), nn = Int32(n), nrhs: Int32 = 1, lda = Int32(m), ldb = Int32(m), info: Int32 = 0
        var lwork: Int32 = -1, query = 0.0
        var trans = Int8(UInt8(ascii: "N"))
        dgels_(&trans, &mm, &nn, &nrhs, &a, &lda, &b, &ldb, &query, &lwork, &info)
        guard info == 0 else { return nil }
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dgels_(&trans, &mm, &nn, &nrhs, &a, &lda, &b, &ldb, &work, &lwork, &info)
        guard info == 0 else { return nil }
        let x = Array(b.prefix(n))
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}
