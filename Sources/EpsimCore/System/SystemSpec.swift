/// A target system: the devices, links and all-to-all algorithm a layout is meant for
/// (../shared/DESIGN.md, "Target system"; the file format is docs/model.md's). epsim's
/// decisions and bytes are exact; a `SystemSpec` turns them into the time they would
/// take there (`StepModel`).
///
/// Units follow the vendors' data sheets and DeepEP's reports: TFLOP/s (10¹² FLOP/s),
/// GB/s (10⁹ bytes/s) per device per direction, microseconds.
public struct SystemSpec: Sendable, Equatable {
    /// The system's name as reports print it ("modeled on NAME").
    public var name: String
    /// Where the file was read from (nil when built in code).
    public var sourcePath: String?
    /// G: devices per node. Rank r is on node floor(r / G) unless `rankMap` says otherwise.
    public var devicesPerNode: Int
    /// Optional: the node of each rank, [P] (overrides `devicesPerNode`'s packing). The
    /// local index of a rank is its position among the ranks of its node, in rank order.
    public var rankMap: [Int]?
    public var device: DeviceSpec
    /// NVLink (or the host's shared memory): between devices of one node.
    public var intraNode: LinkSpec
    /// The NIC (InfiniBand, RoCE): between nodes.
    public var interNode: LinkSpec
    public var allToAll: AllToAllAlgorithm

    public init(name: String, sourcePath: String? = nil, devicesPerNode: Int, rankMap: [Int]? = nil,
                device: DeviceSpec, intraNode: LinkSpec, interNode: LinkSpec, allToAll: AllToAllAlgorithm) {
        self.name = name
        self.sourcePath = sourcePath
        self.devicesPerNode = devicesPerNode
        self.rankMap = rankMap
        self.device = device
        self.intraNode = intraNode
        self.interNode = interNode
        self.allToAll = allToAll
    }
}

/// One accelerator (or the host CPU, for a calibrated `host` system).
public struct DeviceSpec: Sendable, Equatable {
    /// Dense bf16 matrix-product peak, TFLOP/s.
    public var bf16TFLOPS: Double
    /// Share of `bf16TFLOPS` a large GEMM reaches when there is no efficiency table (0, 1].
    public var gemmEfficiency: Double
    /// HBM bandwidth, GB/s, counting reads plus writes (a device-to-device copy of B
    /// bytes moves 2B).
    public var hbmGBps: Double
    /// Host cost of launching one kernel, µs (what `graph` execution removes).
    public var launchMicros: Double
    /// How a rank's local experts run.
    public var execution: ExecutionMode
    /// Measured expert FFN times, interpolated in log n (nil: the roofline).
    public var efficiency: [EfficiencyPoint]?
    /// Device time of one kernel beyond its bytes and FLOPs (start-up and tail), µs
    /// (`kernel_us`, default 0): what a CUDA graph of many tiny kernels still pays.
    public var kernelMicros: Double = 0
    /// Host cost of one iteration of a per-expert loop beyond its kernel launches
    /// (slicing the expert's rows, writing its output), µs (`loop_expert_us`, default 0).
    public var loopExpertMicros: Double = 0
    /// Speed of a grouped GEMM relative to the same experts run one by one (0, 1]
    /// (`grouped_efficiency`, default 1).
    public var groupedEfficiency: Double = 1
    /// Host cost of preparing one grouped call (offsets, descriptors) beyond its three
    /// launches, µs (`grouped_host_us`, default 0).
    public var groupedHostMicros: Double = 0
    /// Share of `hbmGBps` an fp32 scatter-add (atomic adds, unpermute) reaches (0, 1]
    /// (`scatter_efficiency`, default 1).
    public var scatterEfficiency: Double = 1
    /// Bytes of one activation value in the device's compute precision (`compute_bytes`,
    /// default 2: bf16 on the GPU systems; 4 for a calibrated fp32 host): the token row
    /// the permute reads is `computeBytes`·H bytes.
    public var computeBytes: Int = 2
    /// Permute time per row of the phase, beyond its bytes: index computation and
    /// capacity bookkeeping, ns (`permute_row_ns`, default 0; 0 on the GPU systems,
    /// where the H200 data (layouts.json) leave none; `epsim calibrate` measures it on
    /// the host).
    public var permuteRowNanos: Double = 0
    /// Unpermute time per row of the phase, beyond its bytes: index computation and the
    /// weighted add's bookkeeping, ns (`unpermute_row_ns`, default 0; 0 on the GPU
    /// systems, where the H200 data leave none; measured by `epsim calibrate`).
    public var unpermuteRowNanos: Double = 0
    /// Measured copy rates by working-set size (`copy_rates`, nil by default: every byte
    /// term runs at `hbmGBps`). A calibrated host's permute and unpermute touch a few MiB
    /// that stay in its caches, where a copy runs 3–7× faster than one streaming from
    /// memory (`hbmGBps`, measured on 64 MiB); with this table their byte terms run at
    /// the rate of a copy of their size instead. The GPU systems leave it unset.
    public var copyRates: [CopyRatePoint]? = nil
    /// Share of `hbmGBps` at which the router's gate GEMM [T × H]·[H × E] streams its
    /// bf16 operands (0, 1] (`gate_gemm_efficiency`, default 1). Its N = E output columns
    /// are far fewer than a tensor-core tile's, and the library runs it far below HBM's
    /// bandwidth: on the H200, Mixtral's gate (T 4096, H 4096, E 8) took 0.10 ms of
    /// device time where HBM would move its 34 MB in 8 µs (layouts.json).
    public var gateGemmEfficiency: Double = 1

    public init(bf16TFLOPS: Double, gemmEfficiency: Double = 1, hbmGBps: Double, launchMicros: Double,
                execution: ExecutionMode, efficiency: [EfficiencyPoint]? = nil) {
        self.bf16TFLOPS = bf16TFLOPS
        self.gemmEfficiency = gemmEfficiency
        self.hbmGBps = hbmGBps
        self.launchMicros = launchMicros
        self.execution = execution
        self.efficiency = efficiency
    }
}

/// One measured memcpy: `bytes` copied per call (a working set of twice that, source
/// and destination), at `gbps` counting reads plus writes (as `hbm_gbps`).
public struct CopyRatePoint: Sendable, Equatable {
    public var bytes: Int
    public var gbps: Double

    public init(bytes: Int, gbps: Double) {
        self.bytes = bytes
        self.gbps = gbps
    }
}

/// How a rank's local experts are launched (as in ../shared/data/h200/experts_per_rank.json).
public enum ExecutionMode: String, Sendable, CaseIterable {
    /// One FFN per local expert, launched back to back from the host.
    case loop
    /// The same loop replayed as a CUDA graph: no host launch cost.
    case graph
    /// Two grouped GEMMs (and one activation) over all local experts.
    case grouped
}

/// One measured expert FFN: `rows` tokens through one SwiGLU expert of width
/// `hidden` × `ffn`, taking `milliseconds` of device time (launches excluded).
public struct EfficiencyPoint: Sendable, Equatable {
    public var rows: Int
    public var hidden: Int
    public var ffn: Int
    public var milliseconds: Double

    public init(rows: Int, hidden: Int, ffn: Int, milliseconds: Double) {
        self.rows = rows
        self.hidden = hidden
        self.ffn = ffn
        self.milliseconds = milliseconds
    }
}

/// One class of link, full duplex: its own cost (what a dispatch pays), the share of
/// its bandwidth an all-to-all reaches, and optionally its cost right after the experts.
public struct LinkSpec: Sendable, Equatable {
    /// The link's bandwidth, one message's latency and measured sweep, as a dispatch
    /// finds them (`gbps`, `latency_us`, `sweep` in the file).
    public var cost: LinkCost
    /// The share of `gbps` an all-to-all reaches (0, 1]: one per link class, stated in
    /// the system file with its source.
    public var efficiency: Double

    /// The same link when the exchange starts right after the expert phase, i.e. a
    /// combine (`after_experts: {gbps, latency_us, sweep}`, nil by default: as the link;
    /// a combine then uses its own `sweep` or none, never the link's).
    /// Measured by `epsim calibrate` on a host, where the layer's combine after 6–8 ms
    /// of experts took 1.4–1.7× what the link's own cost predicts (its dispatch within
    /// ±12 % of it), and an exchange's cost grows with the time computed before it
    /// (docs/model.md, "This host"); the GPU systems leave it unset, their exchanges do
    /// not run on the cores the experts ran on. `efficiency` applies to it as to the link.
    public var afterExperts: LinkCost?

    /// Per device per direction, GB/s (the data-sheet figure): `cost.gbps`.
    public var gbps: Double {
        get { cost.gbps }
        set { cost.gbps = newValue }
    }

    /// One message's latency, µs: `cost.latencyMicros`.
    public var latencyMicros: Double {
        get { cost.latencyMicros }
        set { cost.latencyMicros = newValue }
    }

    /// Measured all-to-allv times by link bytes: `cost.sweep` (see `LinkCost.sweep`).
    public var sweep: [LinkTimePoint]? {
        get { cost.sweep }
        set { cost.sweep = newValue }
    }

    public init(_ cost: LinkCost, efficiency: Double = 1, afterExperts: LinkCost? = nil) {
        self.cost = cost
        self.efficiency = efficiency
        self.afterExperts = afterExperts
    }

    public init(gbps: Double, efficiency: Double = 1, latencyMicros: Double, afterExperts: LinkCost? = nil,
                sweep: [LinkTimePoint]? = nil) {
        self.init(LinkCost(gbps: gbps, latencyMicros: latencyMicros, sweep: sweep), efficiency: efficiency,
                  afterExperts: afterExperts)
    }

    /// Achieved bytes per second.
    public var bytesPerSecond: Double { gbps * efficiency * 1e9 }

    /// The link as `exchange` finds it: a combine follows the experts (`afterExperts`
    /// when set), a dispatch the route and permute (the link itself).
    public func state(for exchange: AllToAllModel.Exchange) -> LinkSpec {
        guard exchange == .combine, let cost = afterExperts else { return self }
        return LinkSpec(cost, efficiency: efficiency)
    }

    /// One message's latency, seconds: the smallest message of `sweep` when there is
    /// one, else `latencyMicros`.
    public var messageSeconds: Double { (sweep?.first?.micros ?? latencyMicros) * 1e-6 }

    /// The time of one all-to-all in which a rank moves `bytes` over this link in one
    /// direction, seconds.
    ///
    /// - Without `sweep`: `latencyMicros`·1e-6 + bytes / `bytesPerSecond`.
    /// - With one (points (b_i, t_i), b ascending): t(x) interpolates linearly in bytes
    ///   between the points around x, is t_0 at or below b_0, and beyond the last point
    ///   t_last + (x − b_last) / `bytesPerSecond`. `efficiency` scales what the transfer
    ///   adds to the smallest message's time, as it scales the line's bandwidth and not
    ///   its latency: t_0 + max(0, t(x) − t_0) / efficiency, never below t_0 (a larger
    ///   message measured faster than the smallest one is the host's noise).
    public func seconds(bytes: Int64) -> Double {
        let x = Double(bytes)
        guard let sweep, let first = sweep.first else { return latencyMicros * 1e-6 + x / bytesPerSecond }
        let t0 = first.micros * 1e-6
        let measured: Double
        if x <= Double(first.bytes) {
            measured = t0
        } else if let i = sweep.firstIndex(where: { Double($0.bytes) >= x }) {
            let a = sweep[i - 1], b = sweep[i]
            let share = (x - Double(a.bytes)) / (Double(b.bytes) - Double(a.bytes))
            measured = (a.micros + share * (b.micros - a.micros)) * 1e-6
        } else {
            let last = sweep[sweep.count - 1]
            return t0 + max(0, last.micros * 1e-6 - t0) / efficiency + (x - Double(last.bytes)) / bytesPerSecond
        }
        return t0 + max(0, measured - t0) / efficiency
    }
}

/// One measured all-to-allv of a link's `sweep`: `bytes` that one rank sends over the
/// link (and receives) in the call, which took `micros` µs (osu_alltoallv's Avg Latency
/// at Size = bytes / (ranks − 1)).
public struct LinkTimePoint: Sendable, Equatable {
    public var bytes: Int64
    public var micros: Double

    public init(bytes: Int64, micros: Double) {
        self.bytes = bytes
        self.micros = micros
    }
}

/// A link's bandwidth (GB/s per device per direction), one message's latency (µs) and
/// optionally its measured times, in one state of the host: the link's own
/// (`LinkSpec.cost`) or after the experts (`LinkSpec.afterExperts`).
public struct LinkCost: Sendable, Equatable {
    public var gbps: Double
    public var latencyMicros: Double
    /// Measured all-to-allv times by link bytes (`sweep: [{bytes, us}]`, nil by default:
    /// the line `latencyMicros` + bytes / `gbps`), kept sorted by bytes, nil rather than
    /// empty. Written by `epsim calibrate` from its OSU-style sweep, where the host's time
    /// is not a line in the bytes: under Open MPI's shared memory it steps at the eager
    /// limit (9–11 µs at 2 KiB per peer, 24–42 µs at 4 KiB, across one day's calibrations)
    /// and bends above it; the fitted line missed its own sweep by 33–76 % between 4 KiB
    /// and 128 KiB per peer and by 12–28 % at 256 KiB (docs/model.md, "This host"). With
    /// it, `LinkSpec.seconds(bytes:)` interpolates the measurements; `gbps` carries on
    /// beyond the largest. The points are link bytes at the rank count calibrated (Size ×
    /// (ranks − 1)): at another rank count the eager step, which is per message, falls at
    /// other link bytes.
    public var sweep: [LinkTimePoint]? {
        didSet { sweep = Self.canonical(sweep) }
    }

    public init(gbps: Double, latencyMicros: Double, sweep: [LinkTimePoint]? = nil) {
        self.gbps = gbps
        self.latencyMicros = latencyMicros
        self.sweep = Self.canonical(sweep)
    }

    /// A sweep sorted by bytes, nil when it has no point.
    private static func canonical(_ sweep: [LinkTimePoint]?) -> [LinkTimePoint]? {
        guard let sweep, !sweep.isEmpty else { return nil }
        return sweep.sorted { $0.bytes < $1.bytes }
    }
}

/// How an all-to-all crosses nodes.
public enum AllToAllAlgorithm: String, Sendable, CaseIterable {
    /// Every byte goes straight from source device to destination device.
    case flat
    /// DeepEP's normal kernels, Tutel's 2DH: a token bound for another node crosses the
    /// network once per destination node, to the device with the same local index, and
    /// is forwarded over NVLink.
    case hierarchical
}

extension SystemSpec {
    /// The node of `rank`.
    public func node(ofRank rank: Int) -> Int {
        if let rankMap {
            precondition(rankMap.indices.contains(rank), "rank \(rank) beyond the rank_map's \(rankMap.count) entries")
            return rankMap[rank]
        }
        return rank / devicesPerNode
    }
}
