import BackupKit
import Foundation
import Testing

/// `--set` as people type it, read in the plan's time zone, and the set it picks.
@Suite struct SetSelectorTests {
    static let prague = TimeZone(identifier: "Europe/Prague")!
    /// 2024-12-02 10:41:00 in Prague (09:41 UTC).
    static let now = SetTimestamp("20241202_094100")!.date

    func moment(_ text: String, zone: TimeZone = prague) throws -> String? {
        switch try SetSelector(parsing: text, timeZone: zone, now: Self.now) {
        case .latest: "latest"
        case .exact(let timestamp): "exact \(timestamp)"
        case .atOrBefore(let date, _, _): SetTimestamp(date).description
        }
    }

    @Test func whatPeopleTypeIsReadInThePlansZone() throws {
        #expect(try moment("latest") == "latest")
        #expect(try moment("20241130_020000") == "exact 20241130_020000")
        // A day means its end in the plan's zone: 2024-11-30 23:59:59 in Prague is 22:59:59 UTC.
        #expect(try moment("20241130") == "20241130_225959")
        #expect(try moment("2024-11-30") == "20241130_225959")
        #expect(try moment("2024-11-30", zone: TimeZone(identifier: "America/New_York")!) == "20241201_045959")
        #expect(try moment("2024-11-30T02:00") == "20241130_010000")
        #expect(try moment("2024-11-30 02:00:30") == "20241130_010030")
        #expect(try moment("2024-11-30T02:00Z") == "20241130_020000")
        #expect(try moment("2024-11-30T02:00+05:30") == "20241129_203000")
        #expect(try moment("yesterday") == "20241201_225959")
        #expect(try moment("today") == "20241202_094100")
        #expect(try moment("2 days ago") == "20241130_094100")
        #expect(try moment("3 hours ago") == "20241202_064100")
        #expect(try moment("90 minutes ago") == "20241202_081100")
        #expect(try moment("1 week ago") == "20241125_094100")
        // Summer time: 2024-07-01 02:00 in Prague is 00:00 UTC.
        #expect(try moment("2024-07-01T02:00") == "20240701_000000")
    }

    @Test func anythingElseIsAUsageErrorThatShowsTheForms() throws {
        for text in ["soon", "2024-13-01", "2024-02-30", "20241130_0200", "two days ago", "2 fortnights ago", "-1 days ago", ""] {
            do {
                _ = try SetSelector(parsing: text, timeZone: Self.prague, now: Self.now)
                Issue.record("'\(text)' was accepted")
            } catch let error as BackupError {
                #expect(error.code == .usage && error.message.contains("2024-11-30T02:00") && error.message.contains("Europe/Prague"), "\(error)")
            }
        }
    }

    /// A partial set (`run --only config`) is newer, but a restore of everything takes the newest full set;
    /// `--set` with a moment takes the newest set at or before it; a moment before every set restores nothing.
    @Test func aPartialSetNeverStandsInForAFullOne() throws {
        let dir = try TemporaryDirectory("set-selector")
        defer { dir.remove() }
        try writeFile(dir.sub("data/readme.txt"), "version 1\n")
        try writeFile(dir.sub("etc/app.conf"), "setting = 1\n")
        try writeFile(dir.sub("backup.yml"), """
        name: selector
        timezone: Europe/Prague
        sources:
          - { name: files, type: directory, path: ./data }
          - { name: config, type: files, paths: [./etc/app.conf] }
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        let full = try backupctl(["run", "--json"], in: dir.path)
        #expect(full.status == 0, "\(full.stderr)")
        let fullSet = try #require((try JSONSerialization.jsonObject(with: Data(full.stdout.utf8)) as? [String: Any])?["timestamp"] as? String)
        try writeFile(dir.sub("etc/app.conf"), "setting = 2\n")
        #expect(try backupctl(["run", "--only", "config"], in: dir.path).status == 0)

        for set in ["latest", "today", "0 minutes ago"] {
            let restore = try backupctl(["restore", "--set", set, "--to", "all-\(set.count)", "--json"], in: dir.path)
            #expect(restore.status == 0, "\(set): \(restore.stdout)\(restore.stderr)")
            let names = ((try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any])?["artifacts"] as? [[String: Any]])?
                .compactMap { $0["name"] as? String } ?? []
            #expect(names.count == 2 && names.allSatisfy { $0.contains(fullSet) }, "\(set): the full set, not the newer partial one: \(names)")
        }
        // Asking for the config alone takes the newest set that holds it: the partial one.
        let config = try backupctl(["restore", "--set", "latest", "--only", "config", "--to", "config-only"], in: dir.path)
        #expect(config.status == 0, "\(config.stderr)")
        #expect(String(decoding: readFile(dir.sub("config-only") + dir.path + "/etc/app.conf") ?? [], as: UTF8.self) == "setting = 2\n")
        // Before the first set: nothing to restore, and the message names the moment in the plan's zone.
        let early = try backupctl(["restore", "--set", "2020-01-01", "--to", "early"], in: dir.path)
        #expect(early.status == 9 && early.stderr.contains("2020-01-01T23:59:59+01:00"), "\(early.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("early")))
        // `list` shows each set in the plan's zone too.
        let list = try backupctl(["list", "--json"], in: dir.path)
        let sets = ((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["sinks"] as? [[String: Any]])?.first?["sets"] as? [[String: Any]]
        let local = try #require(sets?.last?["local_time"] as? String)
        #expect(local.hasSuffix("+01:00") && SetTimestamp(fullSet).map { LocalTimeCheck.prague($0) } == local, "\(local)")
    }
}

enum LocalTimeCheck {
    static func prague(_ timestamp: SetTimestamp) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "Europe/Prague")!
        return formatter.string(from: timestamp.date)
    }
}
