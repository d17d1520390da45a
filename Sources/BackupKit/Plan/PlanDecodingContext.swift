import Foundation

/// What decoding a plan needs besides the YAML: the registry, the directory relative paths start from,
/// and the environment.
struct PlanDecodingContext {
    static let key = CodingUserInfoKey(rawValue: "backupkit.plan")!

    var registry: PlanRegistry
    var baseDirectory: String
    var environment: [String: String]
    var origin: String
    /// Collects where the plan holds secrets, when the caller masks them (`config print`).
    var secretLocations: SecretLocations? = nil

    static func from(_ decoder: any Decoder) throws -> PlanDecodingContext {
        guard let context = decoder.userInfo[key] as? PlanDecodingContext else {
            throw BackupError(.invalidPlan, "plans are decoded through PlanLoader, which supplies the registry")
        }
        return context
    }
}
