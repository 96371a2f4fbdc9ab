/// Phase times of every rank and counted step, reduced for reports: per phase the
/// median, min and max over all (rank, step) samples, and the slowest rank (the highest
/// mean). Times are seconds; reports show milliseconds.
public struct PhaseSummary: Sendable {
    public struct Figures: Sendable {
        public var median: Double
        public var min: Double
        public var max: Double
        /// The rank whose mean over steps is highest, and that mean.
        public var slowestRank: Int
        public var slowestMean: Double
        /// Per rank: mean over steps.
        public var perRank: [Double]
    }

    public let ranks: Int
    public let steps: Int
    public let byPhase: [Phase: Figures]
    /// Every sample: [ranks × steps × phases] seconds.
    public let seconds: [Double]

    /// `seconds` is every rank's `PhaseTimer.seconds`, gathered in rank order:
    /// [ranks × steps × phases].
    public init(seconds: [Double], ranks: Int, steps: Int) {
        self.ranks = ranks
        self.steps = steps
        self.seconds = seconds
        let phases = Phase.allCases.count
        var byPhase: [Phase: Figures] = [:]
        for phase in Phase.allCases {
            var samples: [Double] = []
            var perRank: [Double] = []
            for r in 0..<ranks {
                var sum = 0.0
                for s in 0..<steps {
                    let v = seconds[(r * steps + s) * phases + phase.rawValue]
                    samples.append(v)
                    sum += v
                }
                perRank.append(steps > 0 ? sum / Double(steps) : 0)
            }
            samples.sort()
            let slowest = perRank.indices.max { perRank[$0] < perRank[$1] } ?? 0
            byPhase[phase] = Figures(
                median: PhaseSummary.median(samples), min: samples.first ?? 0, max: samples.last ?? 0,
                slowestRank: slowest, slowestMean: perRank.isEmpty ? 0 : perRank[slowest], perRank: perRank)
        }
        self.byPhase = byPhase
    }

    public subscript(_ phase: Phase) -> Figures { byPhase[phase]! }

    /// Seconds `rank` spent in `phase` at counted step `step` (summed over layers).
    public func sample(rank: Int, step: Int, phase: Phase) -> Double {
        seconds[(rank * steps + step) * Phase.allCases.count + phase.rawValue]
    }

    /// The share of step time spent in `phase`: its total over all ranks and steps
    /// divided by the total step time (means, so the shares of the phases add up to 1
    /// less the loop's own overhead).
    public func share(_ phase: Phase) -> Double {
        let step = self[.step].perRank.reduce(0, +)
        return step > 0 ? self[phase].perRank.reduce(0, +) / step : 0
    }

    /// The median of sorted values (mean of the middle two for an even count).
    static func median(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// Communication (dispatch + combine) as a share of the step: total time in those
    /// phases over total step time, all ranks and steps.
    public var communicationShare: Double { share(.dispatch) + share(.combine) }
}

/// The median of unsorted values (mean of the middle two for an even count); 0 if empty.
func median(_ values: [Double]) -> Double {
    PhaseSummary.median(values.sorted())
}
