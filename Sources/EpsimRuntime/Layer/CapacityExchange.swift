import EpsimCore

extension CapacityDecider {
    /// Decides one rank's assignments, running the rounds of a `scope: global` decision
    /// collectively: each round's demand is gathered from every rank with one
    /// `allgather` ([P × E], rank order, into `worldDemandScratch`) and admitted
    /// (`begin`, `admit`, `finish`).
    ///
    /// - Parameters:
    ///   - rank: the source rank.
    ///   - tokens: T_r.
    ///   - totalTokens: sum of T over all ranks (used by `scope: global`).
    ///   - preference: [T × E] every token's experts, most preferred first.
    ///   - chosen: [T × k] the chosen experts (the first k of `preference`).
    ///   - weights: [T × k] slot weights before capacity.
    ///   - transport: required for `scope: global`, where every rank must call this
    ///     method collectively; ignored for `local`.
    public func decide(
        rank: Int, tokens: Int, totalTokens: Int,
        preference: UnsafeBufferPointer<Int32>, chosen: UnsafeBufferPointer<Int32>,
        weights: UnsafeBufferPointer<Float>, transport: (any Transport)?,
        into out: inout RoutingDecisions
    ) throws {
        begin(rank: rank, tokens: tokens, totalTokens: totalTokens,
              preference: preference, chosen: chosen, weights: weights)
        while !isFinished {
            guard let transport else { preconditionFailure("scope: global needs a transport") }
            // Read `demand` in place: a second reference held across `admit` would make
            // its next write copy the array.
            let size = transport.size * demand.count
            if worldDemandScratch.count != size { worldDemandScratch = Array(repeating: 0, count: size) }
            try demand.withUnsafeBufferPointer { send in
                try worldDemandScratch.withUnsafeMutableBufferPointer { try transport.allgather(send, into: $0) }
            }
            admit(worldDemand: worldDemandScratch, preference: preference)
        }
        finish(into: &out)
    }
}
