import Foundation

/// How old the newest good set is, against the limit it broke.
public struct StaleReport: Sendable, Codable, Hashable {
    /// The newest good set, or nil when there is none at all.
    public var newestGoodSet: SetTimestamp?
    public var ageSeconds: Double?
    public var limitSeconds: Double

    public init(newestGoodSet: SetTimestamp?, ageSeconds: Double?, limitSeconds: Double) {
        self.newestGoodSet = newestGoodSet
        self.ageSeconds = ageSeconds
        self.limitSeconds = limitSeconds
    }

    enum CodingKeys: String, CodingKey {
        case newestGoodSet = "newest_good_set"
        case ageSeconds = "age_seconds"
        case limitSeconds = "limit_seconds"
    }

    /// The stale report for a newest good set at `now`, or nil when it is fresh enough.
    public static func check(newest: SetTimestamp?, limit: PlanDuration, now: Date) -> StaleReport? {
        guard let newest else { return StaleReport(newestGoodSet: nil, ageSeconds: nil, limitSeconds: limit.seconds) }
        let age = now.timeIntervalSince(newest.date)
        return age > limit.seconds ? StaleReport(newestGoodSet: newest, ageSeconds: age, limitSeconds: limit.seconds) : nil
    }
}
