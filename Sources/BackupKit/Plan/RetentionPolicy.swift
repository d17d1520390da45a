/// The plan's `retention:` section: grandfather-father-son over complete, verified sets, per sink.
/// Each rule counts sets, not calendar days, so a run after a long pause does not wipe the history.
public struct RetentionPolicy: Sendable, Hashable, Codable {
    public var keepLast: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// How many tagged sets (`run --tag`) to keep; GFS rules leave tagged sets alone. Nil keeps them all.
    public var keepTagged: Int?

    public init(keepLast: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil, keepMonthly: Int? = nil, keepYearly: Int? = nil, keepTagged: Int? = nil) {
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.keepTagged = keepTagged
    }

    /// The design document's default: seven daily sets, or `BACKUP_RETENTION_DAYS`.
    public static let standard = RetentionPolicy(keepDaily: 7)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case keepLast = "keep_last"
        case keepDaily = "keep_daily"
        case keepWeekly = "keep_weekly"
        case keepMonthly = "keep_monthly"
        case keepYearly = "keep_yearly"
        case keepTagged = "keep_tagged"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        for key in CodingKeys.allCases {
            if let value = try container.decodeIfPresent(Int.self, forKey: key), value < 0 {
                throw invalidValue(key, in: container, "must be 0 or more")
            }
        }
        keepLast = try container.decodeIfPresent(Int.self, forKey: .keepLast)
        keepDaily = try container.decodeIfPresent(Int.self, forKey: .keepDaily)
        keepWeekly = try container.decodeIfPresent(Int.self, forKey: .keepWeekly)
        keepMonthly = try container.decodeIfPresent(Int.self, forKey: .keepMonthly)
        keepYearly = try container.decodeIfPresent(Int.self, forKey: .keepYearly)
        keepTagged = try container.decodeIfPresent(Int.self, forKey: .keepTagged)
    }
}
