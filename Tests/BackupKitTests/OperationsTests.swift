import BackupKit
import Foundation
import Glibc
import Testing

/// backupctl as operators run it: the schedule daemon, systemd and cron files, status checks, metrics,
/// heartbeats, backup hooks and tagged sets.
@Suite struct OperationsTests {
    /// A workspace with data and a plan; `extra` lines are appended to the plan.
    static func workspace(_ label: String, extra: String = "") throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeFile(dir.sub("data/readme.txt"), String(repeating: "backup me\n", count: 100))
        try writeFile(dir.sub("backup.yml"), """
        name: ops
        sources:
          - { name: files, type: directory, path: ./data }
        sinks:
          - { name: local, type: local, path: ./backups }
        \(extra)
        """)
        return dir
    }

    static func manifests(_ dir: TemporaryDirectory) -> [String] {
        BackupctlTests.finalNames(dir.sub("backups")).filter { $0.hasPrefix("manifest_") }
    }

    /// A schedule every minute with a run at start, stopped by SIGTERM after two runs: exactly two sets,
    /// exit 0, no lock left behind, and the metrics served while it ran.
    @Test func theScheduleDaemonRunsTwiceAndStopsCleanlyOnSIGTERM() throws {
        let dir = try Self.workspace("schedule", extra: "schedule: \"* * * * *\"\nrun_at_start: true\ntimezone: UTC\nretention: { keep_last: 10 }")
        defer { dir.remove() }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
        environment["BACKUP_CONFIG"] = dir.sub("backup.yml")
        // ChildProcess starts it with no signals blocked, as a shell or docker would.
        let daemon = try ChildProcess(executable: backupctlPath, arguments: ["schedule", "--metrics-listen", "127.0.0.1:0"], environment: environment)
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        let deadline = Date().addingTimeInterval(150)
        var metrics = ""
        while Self.manifests(dir).count < 2 && Date() < deadline {
            // Read what it printed so far without blocking for long: it prints a line per event.
            var poll = pollfd(fd: daemon.outputDescriptor, events: Int16(POLLIN), revents: 0)
            if Glibc.poll(&poll, 1, 500) > 0 {
                let count = try daemon.readOutput(into: buffer)
                output += buffer[0..<count]
            }
            let text = String(decoding: output, as: UTF8.self)
            if metrics.isEmpty, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("serving metrics at ") }), Self.manifests(dir).count == 1 {
                let url = String(line.dropFirst("serving metrics at ".count))
                metrics = (try? runProcess("/usr/bin/curl", ["-sf", url]))?.stdout ?? ""
            }
        }
        #expect(Self.manifests(dir).count == 2, "two sets within the deadline")
        kill(daemon.processID, SIGTERM)
        let stopped = Date()
        let status = try daemon.wait(timeout: 30)
        try daemon.forEachChunk(bufferSize: 4096) { output += $0 }
        let text = String(decoding: output, as: UTF8.self)
        #expect(status == 0, "exit 0 after SIGTERM: \(text)\(daemon.stderrText)")
        #expect(Date().timeIntervalSince(stopped) < 10, "it stops promptly while waiting")
        #expect(Self.manifests(dir).count == 2, "exactly two sets")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("backups/.backupctl-ops.lock")), "no lock left behind")
        #expect(text.contains("next run of plan 'ops' at ") && text.contains("(schedule * * * * *, UTC)"), "\(text)")
        #expect(text.components(separatedBy: "run of plan 'ops' succeeded").count - 1 == 2, "two runs: \(text)")
        #expect(text.contains("schedule of plan 'ops' stopped"))
        #expect(metrics.contains("backupkit_last_success_timestamp_seconds{plan=\"ops\"}"), "metrics were served: \(metrics)")
    }

    @Test func systemdAndCronFilesAreAccepted() throws {
        let dir = try Self.workspace("install", extra: "schedule: \"30 2 * * *\"\ntimezone: Europe/Prague\njitter: 5m")
        defer { dir.remove() }
        let systemd = try backupctl(["install", "systemd", "--prefix", dir.sub("root"), "--backupctl", backupctlPath], in: dir.path)
        #expect(systemd.status == 0, "\(systemd.stderr)")
        let service = dir.sub("root/etc/systemd/system/backup.service"), timer = dir.sub("root/etc/systemd/system/backup.timer")
        let verify = try runProcess("/usr/bin/systemd-analyze", ["verify", service, timer])
        #expect(verify.status == 0, "systemd-analyze verify: \(verify.stderr)")
        let timerText = String(decoding: readFile(timer) ?? [], as: UTF8.self)
        #expect(timerText.contains("OnCalendar=*-*-* 02:30:00 Europe/Prague") && timerText.contains("RandomizedDelaySec=300") && timerText.contains("Persistent=true"))
        #expect(timerText.contains("OnCalendar=2027-03-28 01:30:00 UTC"), "the DST gap day keeps its run: \(timerText)")
        let serviceText = String(decoding: readFile(service) ?? [], as: UTF8.self)
        #expect(serviceText.contains("ExecStart=\(backupctlPath) run --config \(dir.sub("backup.yml"))") || serviceText.contains(" run --config \(dir.sub("backup.yml"))"))

        let cron = try backupctl(["install", "cron", "--prefix", dir.sub("root"), "--backupctl", backupctlPath], in: dir.path)
        #expect(cron.status == 0, "\(cron.stderr)")
        let cronText = String(decoding: readFile(dir.sub("root/etc/cron.d/ops-backup")) ?? [], as: UTF8.self)
        let job = try #require(cronText.split(separator: "\n").first { !$0.hasPrefix("#") && !$0.contains("=") })
        let fields = job.split(separator: " ")
        #expect(try CronExpression(fields.prefix(5).joined(separator: " ")) == CronExpression("30 2 * * *"))
        #expect(fields[5] == "root" && fields[6].hasPrefix("/") && FileManager.default.isExecutableFile(atPath: String(fields[6])))
        #expect(cronText.contains("CRON_TZ=Europe/Prague") && job.contains("--jitter 300s"))
        #expect(!cronText.contains("\t") && cronText.hasSuffix("\n"), "cron wants a final newline")
        // The job's command line really runs.
        let command = job.split(separator: " ", maxSplits: 6)[6].components(separatedBy: " >>")[0].replacingOccurrences(of: "--jitter 300s", with: "")
        #expect(try runProcess("/bin/sh", ["-c", command + " --no-prune"]).status == 0)

        let printed = try backupctl(["install", "systemd", "--print", "--backupctl", backupctlPath], in: dir.path)
        #expect(printed.stdout.contains("# /etc/systemd/system/backup.timer") && !FileManager.default.fileExists(atPath: "/etc/systemd/system/backup.timer"))
    }

    @Test func statusShowsEachSinkAndChecksTheAge() async throws {
        let dir = try Self.workspace("status", extra: "verify: { min_size: 1 }")
        defer { dir.remove() }
        #expect(try backupctl(["status", "--max-age", "26h"], in: dir.path).status == 15, "no good set yet is stale")
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let fresh = try backupctl(["status", "--max-age", "26h"], in: dir.path)
        #expect(fresh.status == 0, "\(fresh.stdout)")
        #expect(fresh.stdout.contains("sink 'local': newest good set") && fresh.stdout.contains("verified"), "\(fresh.stdout)")
        // A set made two hours ago, on the runner's clock instead of by waiting, is stale for --max-age 1h.
        try FileManager.default.removeItem(atPath: dir.sub("backups"))
        let plan = try PlanLoader(registry: standardRegistry(), environment: [:])
            .load(yaml: String(decoding: readFile(dir.sub("backup.yml")) ?? [], as: UTF8.self), origin: "backup.yml", baseDirectory: dir.path)
        let twoHoursAgo = Date().addingTimeInterval(-7200)
        #expect(await BackupRunner(plan: plan, logger: testLogger, now: { twoHoursAgo }).run().status == .succeeded)
        let stale = try backupctl(["status", "--max-age", "1h", "--json"], in: dir.path)
        #expect(stale.status == 15)
        let report = try JSONSerialization.jsonObject(with: Data(stale.stdout.utf8)) as? [String: Any]
        let sink = (report?["sinks"] as? [[String: Any]])?.first
        #expect(sink?["stale"] as? Bool == true && (sink?["age_seconds"] as? Double ?? 0) >= 7200)
        // A failed run shows as the last failure.
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        #expect(try backupctl(["run"], in: dir.path).status == 1)
        let afterFailure = try backupctl(["status"], in: dir.path)
        #expect(afterFailure.stdout.contains("last failure:") && afterFailure.stdout.contains("data"), "\(afterFailure.stdout)")
    }

    @Test func theMetricsFileIsWrittenAfterEveryRun() throws {
        let dir = try Self.workspace("metrics")
        defer { dir.remove() }
        #expect(try backupctl(["run", "--metrics-file", "metrics/backup.prom"], in: dir.path).status == 0)
        let text = String(decoding: readFile(dir.sub("metrics/backup.prom")) ?? [], as: UTF8.self)
        for metric in ["backupkit_last_success_timestamp_seconds{plan=\"ops\"}", "backupkit_last_run_duration_seconds{plan=\"ops\"}",
                       "backupkit_last_run_success{plan=\"ops\"} 1", "backupkit_sink_up{plan=\"ops\",sink=\"local\"} 1",
                       "backupkit_verification_passed{plan=\"ops\"} 1", "backupkit_artifact_size_bytes{plan=\"ops\",source=\"files\",subject=\"ops\"}",
                       "# TYPE backupkit_last_run_success gauge"] {
            #expect(text.contains(metric), "\(metric) in:\n\(text)")
        }
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        #expect(try backupctl(["run", "--metrics-file", "metrics/backup.prom"], in: dir.path).status == 1)
        let failed = String(decoding: readFile(dir.sub("metrics/backup.prom")) ?? [], as: UTF8.self)
        #expect(failed.contains("backupkit_last_run_success{plan=\"ops\"} 0") && failed.contains("backupkit_last_run_status{plan=\"ops\",status=\"failed\"} 1"))
        #expect(failed.contains("backupkit_last_success_timestamp_seconds{plan=\"ops\"}"), "the last success is still known")
        // The failed run stored nothing and verified nothing: the metrics must not say otherwise.
        #expect(failed.contains("backupkit_sink_up{plan=\"ops\",sink=\"local\"} 0"), "\(failed)")
        #expect(failed.contains("backupkit_verification_passed{plan=\"ops\"} 0"), "\(failed)")
        let successLine = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("backupkit_last_success_timestamp_seconds{") } }
        #expect(successLine(failed) != nil && successLine(failed) == successLine(text), "the last success stays at the last success")
    }

    /// A partial set (`run --only`) is the newest set, but it does not make a source it left out fresh.
    @Test func statusJudgesFreshnessPerSource() throws {
        let dir = try Self.workspace("status-sources")
        defer { dir.remove() }
        try writeFile(dir.sub("etc/app.conf"), "key = value\n")
        try writeFile(dir.sub("backup.yml"), """
        name: ops
        sources:
          - { name: files, type: directory, path: ./data }
          - { name: config, type: files, paths: [./etc/app.conf] }
        sinks:
          - { name: local, type: local, path: ./backups }
        """)
        #expect(try backupctl(["run", "--only", "config"], in: dir.path).status == 0)
        let status = try backupctl(["status", "--max-age", "1h", "--json"], in: dir.path)
        #expect(status.status == 15, "the files source is in no set: stale, though the newest set is seconds old: \(status.stdout)")
        let sink = ((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["sinks"] as? [[String: Any]])?.first
        let sources = Dictionary(uniqueKeysWithValues: ((sink?["sources"] as? [[String: Any]]) ?? []).map { ($0["source"] as? String ?? "", $0) })
        #expect(sources["config"]?["stale"] as? Bool == false && sources["config"]?["newest_good_set"] != nil, "\(sources)")
        #expect(sources["files"]?["stale"] as? Bool == true && sources["files"]?["newest_good_set"] == nil, "\(sources)")
        #expect(sink?["stale"] as? Bool == true)
        let text = try backupctl(["status", "--max-age", "1h"], in: dir.path)
        #expect(text.stdout.contains("source 'files': in no good set  STALE"), "\(text.stdout)")

        let full = try backupctl(["run", "--json"], in: dir.path)
        let timestamp = (try JSONSerialization.jsonObject(with: Data(full.stdout.utf8)) as? [String: Any])?["timestamp"] as? String
        #expect(try backupctl(["run", "--only", "config"], in: dir.path).status == 0)
        let after = try backupctl(["status", "--max-age", "1h", "--json"], in: dir.path)
        #expect(after.status == 0, "\(after.stdout)")
        let files = (((try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [String: Any])?["sinks"] as? [[String: Any]])?.first?["sources"] as? [[String: Any]])?
            .first { $0["source"] as? String == "files" }
        #expect(files?["newest_good_set"] as? String == timestamp, "the full set, not the newer partial one: \(String(describing: files))")
    }

    @Test func theHeartbeatPingsStartSuccessAndFailure() throws {
        let http = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("heartbeat")
        let dir = try Self.workspace("heartbeat", extra: "heartbeat_url: \(http.url)\(path)")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        #expect(http.requests(pathPrefix: path).map(\.path) == [path + "/start", path], "healthchecks.io's convention: /start, then the plain URL")
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        #expect(try backupctl(["run"], in: dir.path).status == 1)
        #expect(http.requests(pathPrefix: path).map(\.path) == [path + "/start", path, path + "/start", path + "/fail"],
                "a failed run pings /fail: \(http.requests(pathPrefix: path).map(\.path))")
    }

    @Test func theHeartbeatsPingsAreConfigurablePerEvent() throws {
        let http = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("heartbeat-exit")
        let dir = try Self.workspace("heartbeat-exit", extra: """
        heartbeat_url: \(http.url)\(path)
        heartbeat: { start: false, failure: exit_code }
        """)
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        try FileManager.default.removeItem(atPath: dir.sub("data"))
        let failed = try backupctl(["run"], in: dir.path)
        #expect(http.requests(pathPrefix: path).map(\.path) == [path, path + "/\(failed.status)"] && failed.status == 1,
                "no /start, and the exit code on failure: \(http.requests(pathPrefix: path).map(\.path))")
        try writeFile(dir.sub("backup.yml"), (String(bytes: readFile(dir.sub("backup.yml")) ?? [], encoding: .utf8) ?? "")
            .replacingOccurrences(of: "failure: exit_code", with: "failure: sometimes"))
        let invalid = try backupctl(["config", "check"], in: dir.path)
        #expect(invalid.status == 2 && invalid.stderr.contains("failure"), "\(invalid.stderr)")
    }

    @Test func backupHooksRunAroundTheRunAndAFailedBeforeHookFailsIt() throws {
        let dir = try Self.workspace("backup-hooks", extra: """
        hooks:
          before_backup: ["echo \\"$BACKUP_HOOK $BACKUP_PLAN $BACKUP_SET\\" >> hooks.log", "test ! -e fail-before"]
          after_backup: ["echo \\"$BACKUP_HOOK $BACKUP_STATUS\\" >> hooks.log"]
          timeout: 20s
        """)
        defer { dir.remove() }
        let good = try backupctl(["run", "--json"], in: dir.path)
        #expect(good.status == 0, "\(good.stderr)")
        var log = String(decoding: readFile(dir.sub("hooks.log")) ?? [], as: UTF8.self)
        #expect(log.range(of: #"^before_backup ops \d{8}_\d{6}\nafter_backup succeeded\n$"#, options: .regularExpression) != nil, "\(log)")
        try writeFile(dir.sub("fail-before"), "")
        let blocked = try backupctl(["run"], in: dir.path)
        #expect(blocked.status == 14 && blocked.stderr.contains("hook before_backup `test ! -e fail-before` exited with status 1"), "\(blocked.stderr)")
        log = String(decoding: readFile(dir.sub("hooks.log")) ?? [], as: UTF8.self)
        #expect(log.hasSuffix("after_backup failed\n"), "after_backup still runs, and knows: \(log)")
        #expect(Self.manifests(dir).count == 1, "the failed run made no set")
    }

    @Test func taggedSetsAreLeftToKeepTagged() throws {
        let dir = try Self.workspace("tags", extra: "retention: { keep_last: 1, keep_tagged: 2 }")
        defer { dir.remove() }
        for arguments in [["run", "--tag", "pre-deploy"], ["run"], ["run", "--tag", "pre-deploy"], ["run"], ["run", "--tag", "pre-deploy"], ["run"]] {
            #expect(try backupctl(arguments, in: dir.path).status == 0)
        }
        let list = try backupctl(["list", "--json"], in: dir.path)
        let listing = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        let sets = ((listing?["sinks"] as? [[String: Any]])?.first?["sets"] as? [[String: Any]]) ?? []
        #expect(sets.map { $0["tag"] as? String ?? "-" } == ["-", "pre-deploy", "pre-deploy"], "the newest untagged set and the two newest tagged: \(sets.map { $0["tag"] ?? "-" })")
    }

    @Test func theIssuePlanExampleIsValid() throws {
        let plan = try PlanLoader(registry: standardRegistry(), environment: [:]).load(yaml: """
            sources: [{ name: d, type: directory, path: /srv }]
            sinks: [{ name: local, type: local, path: ./backups }]
            schedule: "0 2 * * *"
            timezone: Europe/Prague
            jitter: 5m
            hooks:
              before_backup: ["docker compose stop app"]
              after_backup: ["docker compose start app"]
              before_restore: ["docker compose stop app"]
              after_restore: ["docker compose start app"]
            heartbeat_url: https://hc-ping.com/your-uuid
            retention: { keep_daily: 7, keep_weekly: 4, keep_monthly: 12, keep_tagged: 5 }
            """, origin: "backup.yml", baseDirectory: "/srv")
        #expect(plan.schedule?.expression == (try CronExpression("0 2 * * *")) && plan.schedule?.timeZone.identifier == "Europe/Prague")
        #expect(plan.schedule?.jitter == PlanDuration(seconds: 300))
        #expect(plan.hooks.beforeBackup == ["docker compose stop app"] && plan.hooks.afterRestore == ["docker compose start app"])
        #expect(plan.retention.keepTagged == 5 && plan.heartbeatURL != nil)
    }
}

/// The example plans in Examples/ are valid, so users can start from them.
@Suite struct ExamplePlanTests {
    @Test(arguments: ["Examples/backup.yml", "Examples/docker/backup.yml"])
    func examplePlansAreValid(path: String) throws {
        let result = try backupctl(["config", "check", "--config", TestServers.repositoryRoot + "/" + path], in: "/")
        #expect(result.status == 0, "\(result.stderr)")
    }
}
