/// What `epsim run` was asked to do, besides the layout itself.
public struct RunOptions: Sendable {
    public var configPath: String
    public var overrides: [String]
    /// Result JSON (schema epsim.result/1), written by rank 0.
    public var output: String?
    /// Routing dump, written by rank 0: a file (jsonl, csv) or a directory (npy).
    public var routingOut: String?
    /// The routing dump's format.
    public var routingFormat: RoutingFormat = .jsonl
    /// Router, capacity and overflow only (`--routing-only`): no dispatch, experts or
    /// combine; the report and result hold the routing part.
    public var routingOnly = false
    /// One CSV row per (step, rank, phase), written by rank 0.
    public var csv: String?
    /// Chrome trace-event JSON (one track per rank), written by rank 0.
    public var trace: String?
    /// The run's picture (`RunChart`), an SVG written by rank 0.
    public var svg: String?
    /// Compare the last counted step with the single-process reference on rank 0.
    public var verify: Bool
    /// A barrier before each communication phase, timed as `wait`.
    public var sync: Bool
    /// Print the terminal report (compare and sweep run quietly).
    public var report: Bool
    /// A target system file: every phase is also modeled on it (`ModeledRun`).
    public var system: String?
    /// Report only the modeled times; the experts do no arithmetic (`compute: modeled`).
    public var modeledOnly: Bool

    public init(configPath: String, overrides: [String] = [], output: String? = nil,
                routingOut: String? = nil, csv: String? = nil, trace: String? = nil,
                verify: Bool = false, sync: Bool = false, report: Bool = true,
                system: String? = nil, modeledOnly: Bool = false) {
        self.configPath = configPath
        self.overrides = overrides
        self.output = output
        self.routingOut = routingOut
        self.csv = csv
        self.trace = trace
        self.verify = verify
        self.sync = sync
        self.report = report
        self.system = system
        self.modeledOnly = modeledOnly
    }
}
