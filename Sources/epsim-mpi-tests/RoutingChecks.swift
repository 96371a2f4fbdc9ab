import EpsimConformance
enum RoutingChecks { static let all: [ConformanceCheck] = [] }
