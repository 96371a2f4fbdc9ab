public enum EpsimVersion { public static let string = "0.1.0" }
