import EpsimConformance

/// Routing decisions on MPI ranks against the sequential reference.
enum RoutingChecks {
    static let all: [ConformanceCheck] = RoutingConformance.checks + DataPlaneConformance.checks
        + SeededLayoutConformance.checks
}
