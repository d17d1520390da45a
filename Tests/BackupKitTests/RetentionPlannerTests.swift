@testable import BackupKit
import Testing

@Suite struct RetentionPlannerTests {
    static func at(_ text: String) -> SetTimestamp { SetTimestamp(text)! }

    func kept(_ decisions: [RetentionPlanner.Decision]) -> [String] {
        decisions.filter(\.keep).map(\.timestamp.description).sorted()
    }

    @Test func keepDailyKeepsTheNewestOfEachOfTheLastDays() {
        var sets: [RetentionPlanner.Candidate] = []
        for day in 1...10 {
            let dd = day < 10 ? "0\(day)" : "\(day)"
            sets.append(.init(timestamp: Self.at("202411\(dd)_020000"), isGood: true))
            sets.append(.init(timestamp: Self.at("202411\(dd)_140000"), isGood: true))
        }
        let decisions = RetentionPlanner.plan(sets, policy: RetentionPolicy(keepDaily: 7))
        #expect(kept(decisions) == (4...10).map { "202411\($0 < 10 ? "0\($0)" : "\($0)")_140000" })
        #expect(decisions.first { $0.timestamp == Self.at("20241110_140000") }?.reasons.contains("newest good set") == true)
    }

    @Test func aLongPauseDoesNotWipeHistory() {
        // Three sets, then nothing for months: keep_daily 7 must keep all three, because it counts sets.
        let sets = ["20240101_020000", "20240102_020000", "20240103_020000"].map { RetentionPlanner.Candidate(timestamp: Self.at($0), isGood: true) }
        #expect(kept(RetentionPlanner.plan(sets, policy: .standard)).count == 3)
    }

    @Test func weeklyMonthlyYearlyBuckets() {
        let sets = ["20231231_020000", "20240101_020000", "20240107_020000", "20240108_020000", "20240131_020000", "20240201_020000"]
            .map { RetentionPlanner.Candidate(timestamp: Self.at($0), isGood: true) }
        // ISO weeks: 2023-12-31 is in 2023-W52; 2024-01-01..07 in 2024-W01; 01-08 in W02; 01-31 in W05; 02-01 in W05.
        #expect(RetentionPlanner.isoWeek(Self.at("20231231_020000")) == "2023-W52")
        #expect(RetentionPlanner.isoWeek(Self.at("20240101_020000")) == "2024-W01")
        #expect(RetentionPlanner.isoWeek(Self.at("20241230_020000")) == "2025-W01")
        #expect(kept(RetentionPlanner.plan(sets, policy: RetentionPolicy(keepWeekly: 3))) == ["20240108_020000", "20240107_020000", "20240201_020000"].sorted())
        #expect(kept(RetentionPlanner.plan(sets, policy: RetentionPolicy(keepMonthly: 2))) == ["20240131_020000", "20240201_020000"])
        #expect(kept(RetentionPlanner.plan(sets, policy: RetentionPolicy(keepYearly: 5))) == ["20231231_020000", "20240201_020000"])
        #expect(kept(RetentionPlanner.plan(sets, policy: RetentionPolicy(keepLast: 2))) == ["20240131_020000", "20240201_020000"])
    }

    @Test func theNewestGoodSetIsAlwaysKept() {
        let sets = [RetentionPlanner.Candidate(timestamp: Self.at("20240101_020000"), isGood: true),
                    RetentionPlanner.Candidate(timestamp: Self.at("20240102_020000"), isGood: false)]
        let decisions = RetentionPlanner.plan(sets, policy: RetentionPolicy(keepLast: 0))
        #expect(kept(decisions) == ["20240101_020000", "20240102_020000"])
    }

    @Test func incompleteSetsGoWhenOlderThanTheNewestGood() {
        let sets = [RetentionPlanner.Candidate(timestamp: Self.at("20240101_020000"), isGood: false),
                    RetentionPlanner.Candidate(timestamp: Self.at("20240102_020000"), isGood: true),
                    RetentionPlanner.Candidate(timestamp: Self.at("20240103_020000"), isGood: false)]
        let decisions = RetentionPlanner.plan(sets, policy: .standard)
        #expect(kept(decisions) == ["20240102_020000", "20240103_020000"])
        #expect(decisions.first { !$0.keep }?.reasons.first?.contains("incomplete") == true)
    }

    @Test func taggedAndPartialSets() {
        let sets = [
            RetentionPlanner.Candidate(timestamp: Self.at("20240101_020000"), isGood: true, tag: "pre-deploy"),
            RetentionPlanner.Candidate(timestamp: Self.at("20240102_020000"), isGood: true, tag: "pre-deploy"),
            RetentionPlanner.Candidate(timestamp: Self.at("20240103_020000"), isGood: true),
            RetentionPlanner.Candidate(timestamp: Self.at("20240103_030000"), isGood: true, isPartial: true),
            RetentionPlanner.Candidate(timestamp: Self.at("20240103_010000"), isGood: true, isPartial: true),
        ]
        let decisions = RetentionPlanner.plan(sets, policy: RetentionPolicy(keepDaily: 1, keepTagged: 1))
        #expect(kept(decisions) == ["20240102_020000", "20240103_020000", "20240103_030000"])
        let all = RetentionPlanner.plan(sets, policy: RetentionPolicy(keepDaily: 1))
        #expect(kept(all).contains("20240101_020000"), "keep_tagged unset keeps every tagged set")
    }
}

extension RetentionPlannerTests {
    @Test func theNewestFullSetIsKeptBesideANewerTaggedOne() {
        let sets = [RetentionPlanner.Candidate(timestamp: Self.at("20240101_020000"), isGood: true),
                    RetentionPlanner.Candidate(timestamp: Self.at("20240102_020000"), isGood: true, tag: "pre-deploy", isPartial: true)]
        let decisions = RetentionPlanner.plan(sets, policy: RetentionPolicy(keepTagged: 5))
        #expect(kept(decisions) == ["20240101_020000", "20240102_020000"])
        #expect(decisions.first { $0.timestamp == Self.at("20240101_020000") }?.reasons.contains("newest full set") == true)
    }

    @Test func protectedSetsAreKept() {
        let sets = [RetentionPlanner.Candidate(timestamp: Self.at("20240101_020000"), isGood: false, protection: "its manifest cannot be decoded"),
                    RetentionPlanner.Candidate(timestamp: Self.at("20240102_020000"), isGood: true)]
        #expect(kept(RetentionPlanner.plan(sets, policy: .standard)).count == 2)
    }
}
