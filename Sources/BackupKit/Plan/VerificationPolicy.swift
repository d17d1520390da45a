/// The plan's `verify:` section: what an artifact must satisfy besides reading back intact.
public struct VerificationPolicy: Sendable, Hashable, Codable {
    /// The smallest acceptable artifact; an empty artifact always fails.
    public var minSize: ByteSize
    /// The most an artifact may shrink against the same source in the previous good set, in percent.
    /// 100 turns the check off.
    public var maxShrinkPercent: Double
    /// Run every source's restore drill (a database restored into a scratch database and checked) as
    /// part of every run's verification.
    public var restoreTest: Bool

    public init(minSize: ByteSize = ByteSize(0), maxShrinkPercent: Double = 90, restoreTest: Bool = false) {
        self.minSize = minSize
        self.maxShrinkPercent = maxShrinkPercent
        self.restoreTest = restoreTest
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case minSize = "min_size"
        case maxShrinkPercent = "max_shrink_percent"
        case restoreTest = "restore_test"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let defaults = VerificationPolicy()
        minSize = try container.decodeIfPresent(ByteSize.self, forKey: .minSize) ?? defaults.minSize
        maxShrinkPercent = try container.decodeIfPresent(Double.self, forKey: .maxShrinkPercent) ?? defaults.maxShrinkPercent
        restoreTest = try container.decodeIfPresent(Bool.self, forKey: .restoreTest) ?? defaults.restoreTest
        guard (0...100).contains(maxShrinkPercent) else {
            throw invalidValue(.maxShrinkPercent, in: container, "must be between 0 and 100 (100 turns the check off)")
        }
    }
}
