/// What `epsim run` was asked to do, besides the layout itself.
public struct RunOptions: Sendable {
    public var configPath: String
    public var overrides: [String]
    /// Result JSON (schema epsim.result/1), written by rank 0.
    public var output: String?
    /// Routing dump (JSON Lines), written by rank 0.
    public var routingOut: String?
    /// Compare the last counted step with the single-process reference on rank 0.
    public var verify: Bool

    public init(configPath: String, overrides: [String] = [], output: String? = nil,
                routingOut: String? = nil, verify: Bool = false) {
        self.configPath = configPath
        self.overrides = overrides
        self.output = output
        self.routingOut = routingOut
        self.verify = verify
    }
}
