import EpsimCore

/// Where and how a run ran, for reports: transport, ranks, hosts, versions.
public struct RunEnvironment: Sendable {
    public var transport: String
    public var ranks: Int
    /// The host of each rank, in rank order.
    public var hosts: [String]
    /// The communication library (e.g. "Open MPI v4.1.4, ...").
    public var library: String
    public var sync: Bool

    public init(transport: any Transport, hosts: [String], sync: Bool) {
        self.transport = transport.kindName
        ranks = transport.size
        self.hosts = hosts
        library = transport.libraryVersion
        self.sync = sync
    }

    /// `epsim estimate`'s: P ranks decided in one process ("estimate" transport, no
    /// communication library).
    public init(estimateOf ranks: Int, hosts: [String]) {
        transport = "estimate"
        self.ranks = ranks
        self.hosts = hosts
        library = "none"
        sync = false
    }

    /// Distinct hosts, in order of first appearance.
    public var distinctHosts: [String] {
        var seen: [String] = []
        for h in hosts where !seen.contains(h) { seen.append(h) }
        return seen
    }

    /// Ranks on the host of rank 0 (every rank with the emulated transport).
    public var ranksOnFirstHost: Int {
        guard let first = hosts.first else { return ranks }
        return hosts.filter { $0 == first }.count
    }

    var json: JSONValue {
        .object([
            ("transport", .string(transport)),
            ("ranks", .int(ranks)),
            ("hosts", .array(distinctHosts.map { .string($0) })),
            ("rank_hosts", .array(hosts.map { .string($0) })),
            ("sync", .bool(sync)),
            ("versions", .object([
                ("epsim", .string(EpsimVersion.string)),
                ("communication", .string(library)),
                ("blas", .string(BLAS.configuration)),
                ("swift", .string(swiftCompilerVersion)),
            ])),
        ])
    }
}

/// The Swift compiler that built epsim, as far as the compiler tells.
let swiftCompilerVersion: String = {
    #if compiler(>=6.3)
    return "6.3 or later"
    #elseif compiler(>=6.2)
    return "6.2"
    #elseif compiler(>=6.1)
    return "6.1"
    #else
    return "6.0"
    #endif
}()
