import Dispatch
import EpsimCore
import Synchronization

/// The engine of `epsim estimate`: every rank's real routing decisions of every counted
/// step and layer, made in one process by a few worker threads instead of one thread or
/// process per rank, and from them the figures `epsim run --system` reports, without
/// token payloads or expert arithmetic.
///
/// Each (step, layer) runs the ranks' router (`Router.route`, the same seeded logits,
/// gate product or trace rows as a run's) and capacity decider (`CapacityDecider`, every
/// scope, priority and policy; `scope: global` in lockstep rounds over the world's
/// demand, as the transport's allgather would give it), then counts what a run's
/// observers count from the same decisions, with the same functions:
/// - routing totals, demand and balance statistics (`RoutingTotals`, `RoutingDemand`,
///   `BalanceStatistics.add`, summed over ranks in rank order as the
///   emulated allreduce sums);
/// - the rows each rank dispatches to each rank and the tokens it sends to each node
///   (`ChunkTraffic.addRows`), the rows each expert computes, and from them the bytes
///   at the wire precision (rows × `WireCodec.bytesPerRow`, what the dispatcher hands
///   the all-to-allv; combine returns the same rows at the combine precision);
/// - the step modeled on the system (`StepModel.evaluate`).
///
/// Memory: per worker one rank's router output and decisions; per rank its totals and
/// per-step figures (O(P·E)); per step the model's traffic (O(P²) per layer and chunk).
/// With `scope: global` every rank's decision state is held through the rounds.
final class Estimator {
    let config: SimConfig
    let layout: ExpertLayout
    let system: SystemSpec
    let ranks: Int
    let workers: Int
    private let shape: ModelShape
    private let experts: Int, topK: Int, layers: Int, chunks: Int
    private let tokens: [Int]
    private let totalTokens: Int
    private let nodeOfRank: [Int]
    private let nodes: Int
    /// [P + 1]: where each rank's local experts start in a flat list of every slot.
    private let slotBase: [Int]
    private let dedup: Bool
    private let global: Bool
    private let reroute: Bool
    private let gating: Bool
    private let dump: RoutingDump?
    private let progress: ProgressLine?

    // What the run reports, as its observers would have gathered it. Per-rank storage
    // that worker threads write (each rank by one worker) is `RankSlots`.
    let perRank: RankSlots<RoutingTotals>
    private let stepTotals: RankSlots<RoutingTotals>
    /// [P][steps × StepRecorder.RankField]
    private(set) var scalars: [[Double]]
    /// [P][L]
    private(set) var capacityPerLayer: [[Int]]
    /// [steps × L]
    private(set) var zeroDropFactor: [Double]
    /// [steps × E]
    private(set) var expertLoad: [Double]
    private(set) var auxLoss: [Double]
    private(set) var importanceCV2: [Double]
    /// The world's demand, summed over the workers' counts.
    var demand: RoutingDemand { RoutingDemand.sum(workerStates.map(\.demand), layers: layers, experts: experts) }
    /// [P × 2P]: per rank, dispatch then combine bytes to each rank, over counted steps.
    private(set) var traffic: [Int64]
    private(set) var modeled: [ModeledStep] = []
    private(set) var lastTraffic: StepTraffic?
    /// Assignments decided (steps × layers × Σ T_r × k).
    private(set) var assignments = 0

    /// [P]: each rank's part of the step being decided, as the model reads it.
    private let rankTraffic: RankSlots<RankStepTraffic>
    private var workerStates: [Worker]
    /// [P × (3E + 1)]: each rank's balance statistics of the layer being decided.
    private let statistics: RankSlots<Double>
    /// [P × L]: each rank's capacity per layer in the step being decided (-1: none).
    private let layerCapacity: RankSlots<Int>
    /// [P]: each rank's dump records of the layer being decided.
    private let pieces: RankSlots<[UInt8]>
    /// [layers × (3E + 1)]: this step's world balance statistics per layer.
    private var stepStatistics: [Double]
    /// `scope: global`: every rank's decision held through the rounds.
    private var held: [HeldDecision] = []
    /// Ranks decided so far (over steps and layers), for the progress line.
    private let done = Atomic<Int>(0)

    init(config: SimConfig, layout: ExpertLayout, system: SystemSpec, ranks: Int, workers: Int,
         dump: RoutingDump?, progress: ProgressLine?) throws {
        self.config = config
        self.layout = layout
        self.system = system
        self.ranks = ranks
        self.workers = max(1, min(workers, ranks))
        self.dump = dump
        self.progress = progress
        let m = config.model
        shape = ModelShape(config: config)
        experts = m.experts
        topK = m.topK
        layers = m.layers
        chunks = config.overlapChunks
        tokens = (0..<ranks).map { config.tokens(rank: $0, size: ranks) }
        totalTokens = config.worldTokens(size: ranks)
        nodeOfRank = (0..<ranks).map { system.node(ofRank: $0) }
        nodes = (nodeOfRank.max() ?? 0) + 1
        var base = [0]
        for r in 0..<ranks { base.append(base[r] + layout.local[r].count) }
        slotBase = base
        dedup = config.dispatch.dedup == .rank
        global = config.capacity.scope == .global && config.capacity.isBounded
        reroute = config.overflow.policy == .reroute
        if case .gating = config.workload { gating = true } else { gating = false }

        perRank = RankSlots(repeating: RoutingTotals(experts: m.experts), count: ranks)
        stepTotals = RankSlots(repeating: RoutingTotals(experts: m.experts), count: ranks)
        layerCapacity = RankSlots(repeating: -1, count: ranks * m.layers)
        pieces = RankSlots(repeating: [], count: dump == nil ? 0 : ranks)
        stepStatistics = Array(repeating: 0, count: m.layers * (3 * m.experts + 1))
        scalars = Array(repeating: Array(repeating: 0, count: config.steps * StepRecorder.RankField.allCases.count),
                        count: ranks)
        capacityPerLayer = Array(repeating: Array(repeating: -1, count: m.layers), count: ranks)
        zeroDropFactor = Array(repeating: 0, count: config.steps * m.layers)
        expertLoad = Array(repeating: 0, count: config.steps * m.experts)
        auxLoss = Array(repeating: 0, count: config.steps)
        importanceCV2 = auxLoss
        traffic = Array(repeating: 0, count: ranks * 2 * ranks)
        statistics = RankSlots(repeating: 0, count: ranks * (3 * m.experts + 1))
        let empty = ChunkTraffic(tokens: 0, dispatchBytes: Array(repeating: 0, count: ranks),
                                 combineBytes: Array(repeating: 0, count: ranks),
                                 dispatchRows: Array(repeating: 0, count: ranks),
                                 combineRows: Array(repeating: 0, count: ranks),
                                 tokensToNode: Array(repeating: 0, count: nodes), expertRows: [])
        rankTraffic = RankSlots(count: ranks) { r in
            var chunk = empty
            chunk.expertRows = Array(repeating: 0, count: layout.local[r].count)
            return RankStepTraffic(tokens: config.tokens(rank: r, size: ranks),
                                   chunks: Array(repeating: chunk, count: m.layers * config.overlapChunks))
        }
        // One router per worker (for the trace workload, sharing one loaded trace).
        let trace = try RouterTrace.loadIfNeeded(config: config, worldSize: ranks)
        var router = try Router(config: config, worldSize: ranks, trace: trace)
        router.fullPreference = Router.wantsFullPreference(config)
        let slots = base[ranks] * config.overlapChunks, nodeCount = nodes
        workerStates = (0..<self.workers).map { _ in
            Worker(router: router, config: config, layout: layout, ranks: ranks, nodes: nodeCount, slots: slots)
        }
        if config.capacity.scope == .global && config.capacity.isBounded {
            held = (0..<ranks).map { _ in HeldDecision(config: config, layout: layout) }
        }
    }

    // MARK: the run

    /// Decides and models every counted step (warm-up steps decide nothing a counted
    /// step reads: the router's draws depend on the step's index only).
    func run() throws {
        let total = config.steps * layers * ranks
        for s in 0..<config.steps {
            let stepIndex = config.warmupSteps + s
            resetStep()
            for l in 0..<layers {
                try decideLayer(counted: s, step: stepIndex, layer: l, total: total)
            }
            finishStep(counted: s)
        }
        progress?.finish()
    }

    private func resetStep() {
        for r in 0..<ranks {
            stepTotals[r].reset()
            for e in rankTraffic[r].chunks.indices {
                rankTraffic[r].chunks[e].reset()
            }
        }
    }

    /// One layer of one counted step on every rank.
    private func decideLayer(counted s: Int, step stepIndex: Int, layer l: Int, total: Int) throws {
        for w in workerStates { w.beginLayer() }
        let width = BalanceStatistics.width(experts: experts)
        statistics.reset(to: 0)
        if global {
            // Route and open every rank's decision, then the rounds over the world's
            // demand, then finish and count.
            try parallel { w, r in
                let worker = self.workerStates[w]
                let out = try worker.route(step: stepIndex, layer: l, rank: r, tokens: self.tokens[r], config: self.config)
                self.addStatistics(out, rank: r)
                self.held[r].begin(out, rank: r, totalTokens: self.totalTokens, keepPreference: self.reroute)
            }
            var world = [Int64](repeating: 0, count: ranks * experts)
            while !held[0].decider.isFinished {
                for r in 0..<ranks {
                    let d = held[r].decider.demand
                    for e in 0..<experts { world[r * experts + e] = d[e] }
                }
                let snapshot = world
                try parallel { _, r in self.held[r].admit(snapshot) }
            }
            try parallel { w, r in
                let worker = self.workerStates[w]
                self.held[r].decider.finish(into: &worker.decisions)
                self.count(rank: r, counted: s, step: stepIndex, layer: l, chosen: self.held[r].chosen,
                           weights: self.held[r].weights, worker: worker)
                self.progressed(worker: w, total: total)
            }
        } else {
            try parallel { w, r in
                let worker = self.workerStates[w]
                let out = try worker.route(step: stepIndex, layer: l, rank: r, tokens: self.tokens[r], config: self.config)
                self.addStatistics(out, rank: r)
                worker.decide(out, rank: r, totalTokens: self.totalTokens)
                self.count(rank: r, counted: s, step: stepIndex, layer: l, chosen: out.chosen, weights: out.weights,
                           worker: worker)
                self.progressed(worker: w, total: total)
            }
        }
        // Rank-order sums, as the emulated allreduce adds the ranks' contributions.
        let base = l * width
        for i in 0..<width {
            var acc = statistics[i]
            for r in 1..<ranks { acc += statistics[r * width + i] }
            stepStatistics[base + i] = acc
        }
        if config.capacity.scope == .local {
            for w in workerStates {
                zeroDropFactor[s * layers + l] = max(zeroDropFactor[s * layers + l], w.zeroDropFactor)
            }
        } else {
            zeroDropFactor[s * layers + l] = BalanceStatistics.zeroDropFactor(
                stepStatistics[base..<(base + width)], capacity: config.capacity,
                tokens: Int(stepStatistics[base + 3 * experts]), topK: topK, experts: experts)
        }
        // The rows every expert computed, from every worker's count.
        for c in 0..<chunks {
            let e = l * chunks + c
            for r in 0..<ranks {
                for local in 0..<layout.local[r].count {
                    var rows = 0
                    for w in workerStates { rows += w.expertRows[c * slotBase[ranks] + slotBase[r] + local] }
                    rankTraffic[r].chunks[e].expertRows[local] = rows
                }
            }
        }
        if let dump { try dump.write(pieces.array) }
    }

    private func addStatistics(_ out: RouterOutput, rank r: Int) {
        let width = BalanceStatistics.width(experts: experts)
        BalanceStatistics.add(out, into: statistics.buffer(r * width, count: width))
    }

    /// Counts a decided rank; worker 0 moves the progress line.
    private func progressed(worker w: Int, total: Int) {
        let n = done.add(1, ordering: .relaxed).newValue
        if w == 0 { progress?.update(done: min(n, total)) }
    }

    /// What a run's observers count from rank r's decisions of one layer (the worker's
    /// `decisions`): totals, demand, zero-drop factor, capacity, the rows to each rank
    /// and node per chunk, the rows each expert computes, the dump's records.
    private func count(rank r: Int, counted s: Int, step stepIndex: Int, layer l: Int,
                       chosen: [Int32], weights: [Float], worker: Worker) {
        let d = worker.decisions
        weights.withUnsafeBufferPointer {
            stepTotals[r].add(d, weights: $0)
            perRank[r].add(d, weights: $0)
        }
        chosen.withUnsafeBufferPointer { worker.demand.add(layer: l, chosen: $0, decisions: d) }
        if config.capacity.scope == .local {
            let width = BalanceStatistics.width(experts: experts)
            worker.zeroDropFactor = max(worker.zeroDropFactor, BalanceStatistics.zeroDropFactor(
                statistics.buffer(r * width, count: width), capacity: config.capacity, tokens: tokens[r], topK: topK,
                experts: experts))
        }
        layerCapacity[r * layers + l] = d.capacity ?? -1
        let T = tokens[r], slots = slotBase[ranks]
        for c in 0..<chunks {
            let range = MoERank.tokenRange(chunk: c, of: chunks, tokens: T)
            let e = l * chunks + c
            rankTraffic[r].chunks[e].tokens = range.count
            rankTraffic[r].chunks[e].addRows(of: d, tokens: range, dedup: dedup, nodeOfRank: nodeOfRank,
                                             seenRank: &worker.seenRank, seenNode: &worker.seenNode)
            let k = topK
            d.destRank.withUnsafeBufferPointer { dest in
                d.destLocal.withUnsafeBufferPointer { local in
                    worker.expertRows.withUnsafeMutableBufferPointer { rows in
                        for a in (range.lowerBound * k)..<(range.upperBound * k) where dest[a] >= 0 {
                            rows[c * slots + slotBase[Int(dest[a])] + Int(local[a])] += 1
                        }
                    }
                }
            }
        }
        if let dump {
            chosen.withUnsafeBufferPointer { c in
                weights.withUnsafeBufferPointer { w in
                    dump.encode(step: s, layer: l, rank: r, chosen: c, weights: w, decisions: d, into: &pieces[r])
                }
            }
        }
    }

    /// After every layer of counted step s: bytes from rows, the per-rank figures, the
    /// traffic matrix, the world's figures and the modeled step.
    private func finishStep(counted s: Int) {
        let P = ranks, dRow = shape.dispatchRowBytes, cRow = shape.combineRowBytes
        for e in 0..<(layers * chunks) {
            for r in 0..<P {
                for q in 0..<P {
                    let rows = rankTraffic[r].chunks[e].dispatchRows[q]
                    rankTraffic[r].chunks[e].dispatchBytes[q] = rows * dRow
                    // Combine: q returns r's rows at the combine precision.
                    rankTraffic[q].chunks[e].combineRows[r] = rows
                    rankTraffic[q].chunks[e].combineBytes[r] = rows * cRow
                }
            }
        }
        // Each rank's figures as its `StepAccounting` would count them; bytes received
        // need every rank's row first.
        var figures: [RankStepFigures] = []
        figures.reserveCapacity(P)
        var received = [Int](repeating: 0, count: P)
        for r in 0..<P {
            var sent = 0, selfBytes = 0, dispatchOff = 0, combineOff = 0, rows = 0
            for chunk in rankTraffic[r].chunks {
                for q in 0..<P {
                    let d = chunk.dispatchBytes[q], c = chunk.combineBytes[q]
                    sent += d + c
                    received[q] += d + c
                    traffic[r * 2 * P + q] += Int64(d)
                    traffic[r * 2 * P + P + q] += Int64(c)
                    if q == r { selfBytes += d + c } else {
                        dispatchOff += d
                        combineOff += c
                    }
                }
                rows += chunk.expertRows.reduce(0, +)
            }
            if s == 0 { capacityPerLayer[r] = (0..<layers).map { layerCapacity[r * layers + $0] } }
            figures.append(RankStepFigures(totals: stepTotals[r], tokens: tokens[r] * layers, rowsComputed: rows,
                                           bytesSent: sent, bytesReceived: 0, selfBytes: selfBytes,
                                           dispatchOffRank: dispatchOff, combineOffRank: combineOff,
                                           capacity: layerCapacity[r * layers]))
            assignments += Int(stepTotals[r].assignments)
        }
        let width = StepRecorder.RankField.allCases.count
        for r in 0..<P {
            figures[r].bytesReceived = received[r]
            scalars[r].withUnsafeMutableBufferPointer {
                figures[r].write(into: UnsafeMutableBufferPointer(rebasing: $0[(s * width)..<((s + 1) * width)]),
                                 model: config.model)
            }
        }
        for e in 0..<experts {
            var load = 0.0
            for r in 0..<P { load += Double(stepTotals[r].expertLoad[e]) }
            expertLoad[s * experts + e] = load
        }
        (auxLoss[s], importanceCV2[s]) = BalanceStatistics.figures(stepStatistics, layers: layers, experts: experts,
                                                                     topK: topK)
        let traffic = StepTraffic(ranks: P, nodes: nodes, perRank: rankTraffic.array)
        modeled.append(StepModel.evaluate(traffic, shape: shape, system: system))
        if s == config.steps - 1 { lastTraffic = traffic }
    }

    // MARK: workers

    /// Runs `body(worker, rank)` for every rank on W worker threads, each taking the
    /// next rank not yet taken (so a worker slowed by another process does not hold the
    /// rest back; nothing counted depends on which worker decided a rank). The error of
    /// the lowest failing rank is rethrown once all are done.
    private func parallel(_ body: (Int, Int) throws -> Void) throws {
        let W = workers, P = ranks
        let failures = RankSlots<(rank: Int, error: any Error)?>(repeating: nil, count: W)
        let next = Atomic<Int>(0), failed = Atomic<Bool>(false)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: W) { w in
                // After a failure the others stop at their next rank: ranks go out in
                // order, so the lowest failing one has been taken by then.
                while !failed.load(ordering: .relaxed) {
                    let r = next.add(1, ordering: .relaxed).oldValue
                    guard r < P else { return }
                    do { try box.value(w, r) } catch {
                        failures[w] = (r, error)
                        failed.store(true, ordering: .relaxed)
                        return
                    }
                }
            }
        }
        if let first = failures.array.compactMap({ $0 }).min(by: { $0.rank < $1.rank }) { throw first.error }
    }
}

extension ChunkTraffic {
    /// Every count back to zero (the arrays keep their sizes).
    mutating func reset() {
        tokens = 0
        for p in dispatchBytes.indices {
            dispatchBytes[p] = 0
            combineBytes[p] = 0
            dispatchRows[p] = 0
            combineRows[p] = 0
        }
        for n in tokensToNode.indices { tokensToNode[n] = 0 }
        for l in expertRows.indices { expertRows[l] = 0 }
    }
}

/// One worker thread's router, decider and scratch (the ranks it takes, one at a time).
private final class Worker: @unchecked Sendable {
    var router: Router
    /// Router outputs by token count (ranks may have different T).
    private var outputs: [Int: RouterOutput] = [:]
    let decider: CapacityDecider
    var decisions = RoutingDecisions()
    var seenRank: [Int]
    var seenNode: [Int]
    /// This worker's ranks' demand, over the run.
    var demand: RoutingDemand
    /// [chunks × slots]: rows each expert slot computes, from this worker's ranks.
    var expertRows: [Int]
    var zeroDropFactor = 0.0
    /// Gating: the rank's inputs x and RMSNorm(x) [T × H].
    private var inputs: [Float] = []
    private var normed: [Float] = []

    init(router: Router, config: SimConfig, layout: ExpertLayout, ranks: Int, nodes: Int, slots: Int) {
        self.router = router
        decider = CapacityDecider(config: config, layout: layout)
        seenRank = Array(repeating: -1, count: ranks)
        seenNode = Array(repeating: -1, count: nodes)
        demand = RoutingDemand(layers: config.model.layers, experts: config.model.experts)
        expertRows = Array(repeating: 0, count: slots)
    }

    func beginLayer() {
        for i in expertRows.indices { expertRows[i] = 0 }
        zeroDropFactor = 0
    }

    /// Routes rank r's tokens of (step, layer) as `MoERank.route` does: the gating
    /// workload on RMSNorm of the step's seeded inputs (layer 0: the only one an
    /// estimate routes by gating), the others from their seeded or recorded logits.
    func route(step: Int, layer: Int, rank r: Int, tokens T: Int, config: SimConfig) throws -> RouterOutput {
        var out = outputs.removeValue(forKey: T) ?? RouterOutput(tokens: T, experts: router.experts, topK: router.topK)
        defer { outputs[T] = out }
        if case .gating = config.workload {
            let H = config.model.hidden
            if inputs.count < T * H {
                inputs = Array(repeating: 0, count: T * H)
                normed = inputs
            }
            inputs.withUnsafeMutableBufferPointer {
                TokenInputs.fill($0, seed: config.seed, step: step, rank: r, tokens: T, hidden: H)
            }
            normed.withUnsafeMutableBufferPointer { y in
                inputs.withUnsafeBufferPointer { x in RMSNorm.apply(x, rows: T, hidden: H, into: y) }
            }
            try normed.withUnsafeBufferPointer { x in
                try router.route(step: step, rank: r, layer: layer,
                                 inputs: UnsafeBufferPointer(rebasing: x[0..<(T * H)]), into: &out)
            }
        } else {
            try router.route(step: step, rank: r, layer: layer, inputs: UnsafeBufferPointer(start: nil, count: 0),
                             into: &out)
        }
        return out
    }

    /// Rank r's decision with `scope: local` (or dropless), into `decisions`.
    func decide(_ out: RouterOutput, rank r: Int, totalTokens: Int) {
        out.preference.withUnsafeBufferPointer { pref in
            out.chosen.withUnsafeBufferPointer { chosen in
                out.weights.withUnsafeBufferPointer { weights in
                    decider.begin(rank: r, tokens: out.tokens, totalTokens: totalTokens, preference: pref,
                                  chosen: chosen, weights: weights)
                }
            }
        }
        decider.finish(into: &decisions)
    }
}

/// `scope: global`: one rank's decision across the rounds, with the router output it
/// reads kept (the preference only when rerouting reads it).
private final class HeldDecision: @unchecked Sendable {
    let decider: CapacityDecider
    var chosen: [Int32] = []
    var weights: [Float] = []
    var preference: [Int32] = []

    init(config: SimConfig, layout: ExpertLayout) {
        decider = CapacityDecider(config: config, layout: layout)
    }

    func begin(_ out: RouterOutput, rank r: Int, totalTokens: Int, keepPreference: Bool) {
        chosen = out.chosen
        weights = out.weights
        preference = keepPreference ? out.preference : []
        out.preference.withUnsafeBufferPointer { pref in
            chosen.withUnsafeBufferPointer { c in
                weights.withUnsafeBufferPointer { w in
                    decider.begin(rank: r, tokens: out.tokens, totalTokens: totalTokens, preference: pref,
                                  chosen: c, weights: w)
                }
            }
        }
    }

    func admit(_ world: [Int64]) {
        preference.withUnsafeBufferPointer { decider.admit(worldDemand: world, preference: $0) }
    }
}
