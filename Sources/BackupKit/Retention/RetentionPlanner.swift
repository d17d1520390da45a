/// Decides which sets a sink keeps, by grandfather-father-son rules over complete, verified sets.
///
/// - Rules count sets, not calendar days since now: `keep_daily: 7` keeps the newest set of each of the
///   seven most recent days that *have* a good set, so a run after a long pause does not wipe history.
/// - The newest good set is always kept, and so is the newest good full set (untagged, not partial).
/// - Sets the catalog protects (an unreadable manifest, files that may belong to a run in progress) are kept.
/// - Sets that are not good (no manifest, damaged, unverified) are deleted when they are older than the
///   newest good set, and kept when newer (they may belong to a run in progress or under inspection).
/// - Tagged sets (`run --tag`) are left alone by the GFS rules and kept by `keep_tagged` (all, if unset).
/// - Partial sets (`run --only`) take no part in the rules; they are kept until a newer full set supersedes them.
/// - Days, weeks (ISO), months and years are counted in UTC.
public enum RetentionPlanner {
    public struct Candidate: Sendable, Hashable {
        public var timestamp: SetTimestamp
        public var isGood: Bool
        public var tag: String?
        public var isPartial: Bool
        /// Why the set must be kept whatever the rules say (see ``SetCatalog/Entry/protection``).
        public var protection: String?

        public init(timestamp: SetTimestamp, isGood: Bool, tag: String? = nil, isPartial: Bool = false, protection: String? = nil) {
            self.timestamp = timestamp
            self.isGood = isGood
            self.tag = tag
            self.isPartial = isPartial
            self.protection = protection
        }
    }

    public struct Decision: Sendable, Hashable, Codable {
        public var timestamp: SetTimestamp
        public var keep: Bool
        /// Why it is kept (`daily 2/7 (2024-11-29)`), or why it goes.
        public var reasons: [String]
    }

    public static func plan(_ candidates: [Candidate], policy: RetentionPolicy) -> [Decision] {
        let sorted = candidates.sorted { $0.timestamp > $1.timestamp }
        var reasons: [SetTimestamp: [String]] = [:]
        let good = sorted.filter(\.isGood)
        let full = good.filter { $0.tag == nil && !$0.isPartial }
        let newestGood = good.first?.timestamp
        let newestFull = full.first?.timestamp

        if let newestGood { reasons[newestGood, default: []].append("newest good set") }
        if let newestFull, newestFull != newestGood { reasons[newestFull, default: []].append("newest full set") }
        for set in sorted { if let protection = set.protection { reasons[set.timestamp, default: []].append(protection) } }

        func apply(_ count: Int?, _ label: String, _ bucket: (SetTimestamp) -> String) {
            guard let count, count > 0 else { return }
            var seen: [String] = []
            for set in full {
                let key = bucket(set.timestamp)
                if seen.last == key { continue }
                guard seen.count < count else { break }
                seen.append(key)
                reasons[set.timestamp, default: []].append("\(label) \(seen.count)/\(count) (\(key))")
            }
        }
        if let keepLast = policy.keepLast, keepLast > 0 {
            for (index, set) in full.prefix(keepLast).enumerated() {
                reasons[set.timestamp, default: []].append("last \(index + 1)/\(keepLast)")
            }
        }
        apply(policy.keepDaily, "daily") { day($0) }
        apply(policy.keepWeekly, "weekly") { isoWeek($0) }
        apply(policy.keepMonthly, "monthly") { String(day($0).prefix(7)) }
        apply(policy.keepYearly, "yearly") { String(day($0).prefix(4)) }

        let tagged = good.filter { $0.tag != nil }
        for (index, set) in tagged.enumerated() {
            if let limit = policy.keepTagged {
                if index < limit { reasons[set.timestamp, default: []].append("tagged '\(set.tag!)' \(index + 1)/\(limit)") }
            } else {
                reasons[set.timestamp, default: []].append("tagged '\(set.tag!)' (keep_tagged unset: all kept)")
            }
        }
        for set in good where set.isPartial && set.tag == nil {
            if newestFull.map({ set.timestamp > $0 }) ?? true {
                reasons[set.timestamp, default: []].append("partial set newer than the newest full set")
            }
        }
        for set in sorted where !set.isGood {
            if newestGood.map({ set.timestamp > $0 }) ?? true {
                reasons[set.timestamp, default: []].append("incomplete, but newer than the newest good set")
            }
        }

        return sorted.map { set in
            if let kept = reasons[set.timestamp], !kept.isEmpty {
                return Decision(timestamp: set.timestamp, keep: true, reasons: kept)
            }
            let why: String
            if !set.isGood {
                why = "incomplete or unverified, and older than the newest good set"
            } else if set.tag != nil {
                why = "tagged, beyond keep_tagged: \(policy.keepTagged ?? 0)"
            } else if set.isPartial {
                why = "partial set superseded by a newer full set"
            } else {
                why = "not selected by any keep_* rule"
            }
            return Decision(timestamp: set.timestamp, keep: false, reasons: [why])
        }
    }

    static func day(_ timestamp: SetTimestamp) -> String {
        String(timestamp.iso8601.prefix(10))
    }

    /// ISO 8601 week, such as `2024-W48`: weeks start on Monday; week 1 holds the year's first Thursday.
    static func isoWeek(_ timestamp: SetTimestamp) -> String {
        let fields = timestamp.utc
        let weekday = fields.weekday == 0 ? 7 : fields.weekday  // Monday 1 ... Sunday 7
        // The Thursday of this week decides the ISO year.
        let thursday = SetTimestamp(secondsSince1970: timestamp.secondsSince1970 + Int64(4 - weekday) * 86400).utc
        let week = thursday.dayOfYear / 7 + 1
        let weekText = week < 10 ? "0\(week)" : "\(week)"
        return "\(thursday.year)-W\(weekText)"
    }
}
