/// The time a rank's compute phases take on one device of a target system (seconds),
/// from the real rows and tokens of a step. Every formula is a roofline of FLOPs and
/// HBM bytes plus launch costs, refined by the measured efficiency table; the numbers
/// and where they come from are in configs/systems/h200-8x.yaml and
/// docs/model-data/README.md.
///
/// Host launches and device work overlap: a phase launched from the host takes the
/// longer of its launch chain (kernels × `launchMicros`) and its device work. An FFN
/// call also shows its first launch before the device starts (ffn_single.json: for
/// every compute-bound size the time exceeds the FLOP time by about one launch), so
/// FFN phases take max(chain, launch + device work). With `execution: graph` the whole
/// layer is replayed as a CUDA graph and no launch is paid.
public struct DeviceModel: Sendable {
    public let device: DeviceSpec
    /// The efficiency table's points per (H, F), by row count: sorted once here, read for
    /// every expert of every rank of every modeled step.
    private let curves: [Shape: [EfficiencyPoint]]

    private struct Shape: Hashable {
        var hidden: Int
        var ffn: Int
    }

    /// `device.copyRates` by size, sorted once.
    private let copyRates: [CopyRatePoint]

    public init(device: DeviceSpec) {
        self.device = device
        curves = Dictionary(grouping: device.efficiency ?? []) { Shape(hidden: $0.hidden, ffn: $0.ffn) }
            .mapValues { $0.sorted { $0.rows < $1.rows } }
        copyRates = (device.copyRates ?? []).sorted { $0.bytes < $1.bytes }
    }

    /// Bytes per second (reads plus writes) of a pass that moves `bytes` (reads plus
    /// writes, every byte once: a working set of `bytes`): without `copy_rates`, HBM's;
    /// with it, the rate of a memcpy of bytes / 2 (whose source and destination make the
    /// same working set), interpolated linearly in log size between the measured sizes
    /// and held at the end points beyond them.
    public func byteRate(moving bytes: Double) -> Double {
        guard let first = copyRates.first, let last = copyRates.last else { return bytesPerSecond }
        let size = bytes / 2
        if size <= Double(first.bytes) { return first.gbps * 1e9 }
        if size >= Double(last.bytes) { return last.gbps * 1e9 }
        let i = copyRates.firstIndex { Double($0.bytes) >= size }!
        let (a, b) = (copyRates[i - 1], copyRates[i])
        let t = log(size / Double(a.bytes)) / log(Double(b.bytes) / Double(a.bytes))
        return (a.gbps + t * (b.gbps - a.gbps)) * 1e9
    }

    /// Kernels of one expert FFN: the first GEMM (W13, or W1 for gelu), the activation
    /// (and product), the second GEMM.
    public static let kernelsPerFFN = 3

    var launch: Double { device.execution == .graph ? 0 : device.launchMicros * 1e-6 }
    var kernel: Double { device.kernelMicros * 1e-6 }
    var flopsPerSecond: Double { device.bf16TFLOPS * 1e12 * device.gemmEfficiency }
    var bytesPerSecond: Double { device.hbmGBps * 1e9 }

    /// FLOPs of one expert on n rows: SwiGLU 6·n·H·F (three H×F products), gelu 4·n·H·F.
    public static func ffnFLOPs(rows n: Int, hidden h: Int, ffn f: Int, activation: Activation) -> Double {
        Double(activation == .swiglu ? 6 : 4) * Double(n) * Double(h) * Double(f)
    }

    /// HBM bytes of one bf16 expert on n rows: the weights once, x read, the first
    /// product written and read by the activation, its result written and read, y written.
    public static func ffnBytes(rows n: Int, hidden h: Int, ffn f: Int, activation: Activation) -> Double {
        let (n, h, f) = (Double(n), Double(h), Double(f))
        let mats = activation == .swiglu ? 3.0 : 2.0
        let inner = activation == .swiglu ? 2 * f : f
        return 2 * (mats * h * f + n * h + 2 * n * inner + 2 * n * f + n * h)
    }

    /// The roofline device time of one FFN, with its kernels' fixed device cost.
    public func rooflineSeconds(rows n: Int, hidden h: Int, ffn f: Int, activation: Activation) -> Double {
        max(Self.ffnFLOPs(rows: n, hidden: h, ffn: f, activation: activation) / flopsPerSecond,
            Self.ffnBytes(rows: n, hidden: h, ffn: f, activation: activation) / bytesPerSecond)
            + Double(Self.kernelsPerFFN) * kernel
    }

    /// Device time of one expert FFN on n rows (launches excluded).
    /// - With table points for (H, F): their times interpolated linearly in log n between
    ///   neighbours; above the largest row count, the largest point scaled by n (compute
    ///   bound); below the smallest, the roofline, capped by the smallest point (device
    ///   time does not grow as rows shrink). gelu scales SwiGLU points by 4/6 (FLOPs).
    /// - Without points for (H, F): the roofline at `gemmEfficiency` (no scaling from
    ///   another shape: the table's shapes differ in arithmetic intensity).
    public func ffnDeviceSeconds(rows n: Int, hidden h: Int, ffn f: Int, activation: Activation) -> Double {
        guard n > 0 else { return 0 }
        let points = curves[Shape(hidden: h, ffn: f)] ?? []
        let roof = rooflineSeconds(rows: n, hidden: h, ffn: f, activation: activation)
        guard let first = points.first, let last = points.last else { return roof }
        let scale = activation == .swiglu ? 1.0 : 4.0 / 6.0
        if n < first.rows { return min(roof, first.milliseconds * 1e-3 * scale) }
        if n >= last.rows { return last.milliseconds * 1e-3 * scale * Double(n) / Double(last.rows) }
        var lo = first
        for hi in points.dropFirst() {
            if n <= hi.rows {
                let w = log(Double(n) / Double(lo.rows)) / log(Double(hi.rows) / Double(lo.rows))
                return (lo.milliseconds + (hi.milliseconds - lo.milliseconds) * w) * 1e-3 * scale
            }
            lo = hi
        }
        return roof
    }

    /// The expert phase of one rank: its local experts with `rows` rows each, per the
    /// execution mode (m experts, D_e the device time of expert e, L the launch, K the
    /// kernel cost, X the per-expert loop cost, E_g and H_g the grouped efficiency and setup):
    /// - loop: max(m·(3L + X), L + Σ D_e): one FFN per expert launched back to back;
    /// - graph: Σ D_e: the same kernels replayed with no host cost;
    /// - grouped: max(3L + H_g, L + H_g + (Σ D_e − (m' − 1)·3K) / E_g): three kernels over
    ///   all m' non-empty experts, so the fixed kernel cost is paid once, at grouped speed.
    public func expertSeconds(rows: [Int], hidden h: Int, ffn f: Int, activation: Activation) -> Double {
        guard !rows.isEmpty else { return 0 }
        let d = rows.reduce(0.0) { $0 + ffnDeviceSeconds(rows: $1, hidden: h, ffn: f, activation: activation) }
        let k3 = Double(Self.kernelsPerFFN)
        switch device.execution {
        case .graph:
            return d
        case .loop:
            let chain = Double(rows.count) * (k3 * launch + device.loopExpertMicros * 1e-6)
            return max(chain, launch + d)
        case .grouped:
            let busy = rows.count(where: { $0 > 0 })
            let host = device.groupedHostMicros * 1e-6
            let work = busy == 0 ? 0 : (d - Double(busy - 1) * k3 * kernel) / device.groupedEfficiency
            return max(k3 * launch + host, launch + host + work)
        }
    }

    /// S shared experts on the rank's own T tokens, one FFN each, launched like a loop.
    public func sharedSeconds(tokens: Int, hidden h: Int, ffn f: Int, sharedExperts s: Int, activation: Activation) -> Double {
        guard s > 0, tokens > 0 else { return 0 }
        let d = Double(s) * ffnDeviceSeconds(rows: tokens, hidden: h, ffn: f, activation: activation)
        return max(Double(s * Self.kernelsPerFFN) * launch, launch + d)
    }

    /// Kernels of the route phase: gate GEMM, score function, top-k (group selection is
    /// part of the top-k pass).
    public static let routeKernels = 3

    /// Route: the gate product [T×H]·[H×E] (FLOPs at the GEMM rate, or x and Wg read over
    /// HBM at `gateGemmEfficiency` if slower), plus the score, top-k and group passes as fp32 memory traffic over
    /// T·E values (logits written; scores read and written; top-k read; group maxima
    /// read and the masked scores written when G > 1), plus launches.
    public func routeSeconds(tokens t: Int, hidden h: Int, experts e: Int, groups g: Int) -> Double {
        guard t > 0 else { return 0 }
        let (t, h, e) = (Double(t), Double(h), Double(e))
        let gemm = max(2 * t * h * e / flopsPerSecond, 2 * (t * h + h * e) / (bytesPerSecond * device.gateGemmEfficiency))
        let passes = g > 1 ? 6.0 : 4.0
        let scores = passes * 4 * t * e / bytesPerSecond
        return max(Double(Self.routeKernels) * launch, gemm + scores + Double(Self.routeKernels) * kernel)
    }

    /// Permute: one gather kernel reading each of the rank's dispatch rows at the compute
    /// precision (`computeBytes`·H bytes: bf16 on the GPU systems) and writing it at the
    /// wire precision, plus `permuteRowNanos` per row of the phase, beyond its bytes:
    /// index computation and capacity bookkeeping (0 on the GPU systems, where the H200
    /// data (layouts.json) leave none; measured on a calibrated host, where the phase is
    /// the capacity decisions, the bucketing and encode, and the decode).
    ///
    /// `rows` are the dispatched rows (the sum of the rank's `dispatchRows`): the bytes.
    /// `assignments` (T·k of the chunk's tokens; nil: `rows`) are what the per-row cost
    /// is paid on: the capacity decisions, most of that cost on a host, visit every
    /// assignment, dropped ones included, so a layout that drops many still pays them
    /// all (at calibration, on uniform routing, the two counts agree).
    public func permuteSeconds(rows: Int, hidden h: Int, wireRowBytes: Int, assignments: Int? = nil) -> Double {
        let perRow = Double(assignments ?? rows) * device.permuteRowNanos * 1e-9
        guard rows > 0 || perRow > 0 else { return 0 }
        return max(launch, permuteByteSeconds(rows: rows, hidden: h, wireRowBytes: wireRowBytes) + kernel + perRow)
    }

    /// The permute's bytes over HBM: rows × (computeBytes·H + wire row bytes), at
    /// `byteRate` of those bytes (HBM's rate unless the device has `copy_rates`).
    public func permuteByteSeconds(rows: Int, hidden h: Int, wireRowBytes: Int) -> Double {
        let bytes = Double(rows) * Double(device.computeBytes * h + wireRowBytes)
        return bytes / byteRate(moving: bytes)
    }

    /// Unpermute: one scatter-add kernel reading each returned row at the combine
    /// precision and adding it into its token's fp32 row (a read and a write of 4H bytes,
    /// as atomic adds at `scatterEfficiency` of HBM), plus `unpermuteRowNanos` per row of
    /// the phase, beyond its bytes: index computation and the add's bookkeeping (0 on the
    /// GPU systems, where the H200 data leave none; measured on a calibrated host).
    public func unpermuteSeconds(rows: Int, hidden h: Int, combineRowBytes: Int) -> Double {
        guard rows > 0 else { return 0 }
        return max(launch, unpermuteByteSeconds(rows: rows, hidden: h, combineRowBytes: combineRowBytes) + kernel
                   + Double(rows) * device.unpermuteRowNanos * 1e-9)
    }

    /// The unpermute's bytes over HBM: the returned rows read, the token rows read and
    /// written by the scatter-add.
    /// Both at `byteRate` of their sum (HBM's rate unless the device has `copy_rates`).
    public func unpermuteByteSeconds(rows: Int, hidden h: Int, combineRowBytes: Int) -> Double {
        let read = Double(rows) * Double(combineRowBytes), add = Double(rows) * Double(8 * h)
        let rate = byteRate(moving: read + add)
        return read / rate + add / (rate * device.scatterEfficiency)
    }

    /// The per-row cost (ns) that makes a phase's modeled device work equal a measured
    /// time: (seconds − byte time − kernel time) / rows (the count the cost is paid on:
    /// the assignments for the permute), at least 0 (a phase faster than
    /// its bytes has no per-row cost to give). 0 for no rows or a non-finite time. What
    /// `epsim calibrate` writes as `permute_row_ns` and `unpermute_row_ns`, with
    /// `byteSeconds` from `permuteByteSeconds` / `unpermuteByteSeconds`.
    public static func rowNanos(seconds: Double, rows: Int, byteSeconds: Double, kernelSeconds: Double = 0) -> Double {
        guard rows > 0, seconds.isFinite, byteSeconds.isFinite else { return 0 }
        return max(0, (seconds - byteSeconds - kernelSeconds) / Double(rows) * 1e9)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
