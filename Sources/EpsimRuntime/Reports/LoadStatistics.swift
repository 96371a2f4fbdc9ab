/// Small statistics used by reports.
public enum LoadStatistics {
    /// Squared coefficient of variation, variance / mean² (population variance); 0 for
    /// an empty or all-zero sample.
    public static func cv2<C: Collection>(_ values: C) -> Double where C.Element == Double {
        let n = Double(values.count)
        guard n > 0 else { return 0 }
        let mean = values.reduce(0, +) / n
        guard mean != 0 else { return 0 }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        return variance / (mean * mean)
    }

    /// max / mean; 0 for an empty or all-zero sample.
    public static func imbalance<C: Collection>(_ values: C) -> Double where C.Element == Double {
        guard let top = values.max() else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return mean > 0 ? top / mean : 0
    }
}
