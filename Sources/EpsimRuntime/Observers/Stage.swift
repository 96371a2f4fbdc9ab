/// The stages of one MoE layer on one rank, in Megatron-Core's terms (listed in data
/// order; the residual and shared experts run before combine postprocess, see
/// `MoELayer`). Each is timed as one of the report's phases (`phase`).
public enum Stage: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// RMSNorm and the router's scores and top-k.
    case route
    /// Capacity and overflow decisions (collective with global capacity scope).
    case capacity
    case dispatchPreprocess, tokenDispatch, dispatchPostprocess
    case expert
    case combinePreprocess, tokenCombine, combinePostprocess
    case shared
    /// `--sync`: the barrier before a communication stage.
    case wait

    /// The phase the stage's time is reported under (docs/semantics.md, Phases).
    public var phase: Phase {
        switch self {
        case .route: return .route
        case .capacity, .dispatchPreprocess, .dispatchPostprocess: return .permute
        case .tokenDispatch: return .dispatch
        case .expert: return .expert
        case .combinePreprocess, .combinePostprocess: return .unpermute
        case .tokenCombine: return .combine
        case .shared: return .shared
        case .wait: return .wait
        }
    }

    public var description: String {
        switch self {
        case .route: return "route"
        case .capacity: return "capacity decisions"
        case .dispatchPreprocess: return "dispatch preprocess"
        case .tokenDispatch: return "token dispatch"
        case .dispatchPostprocess: return "dispatch postprocess"
        case .expert: return "expert"
        case .combinePreprocess: return "combine preprocess"
        case .tokenCombine: return "token combine"
        case .combinePostprocess: return "combine postprocess"
        case .shared: return "shared"
        case .wait: return "wait"
        }
    }
}

/// Which way a payload exchange goes.
public enum ExchangeKind: Sendable {
    case dispatch, combine

    /// The layer stage the exchange is timed as.
    public var stage: Stage { self == .dispatch ? .tokenDispatch : .tokenCombine }
}
