import BackupKit
import Foundation
import Testing

/// WAL archiving against real PostgreSQL 15 clusters: an off-site outage under load (the database is
/// never held up, wal_lag alerts, the archive catches up with no gap), WAL retention and gap reports,
/// and the PITR drill (passes and records its RTO; fails loudly on a damaged segment).
@Suite(.serialized) struct PITRArchiveTests {
    let http: TestHTTPReceiver

    init() throws {
        http = try TestHTTPReceiver.load()
    }

    func webhook(_ path: String) -> String {
        """
        notify:
          - name: hook
            type: webhook
            url: \(http.url + path)
            secret: \(NotifierTests.webhookSecret)
        """
    }

    func events(_ path: String) -> [String] {
        http.requests(pathPrefix: path).compactMap { request in
            (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["event"] as? String
        }
    }

    @Test func offsiteOutageNeverBlocksTheDatabaseAndCatchesUpWithoutGap() throws {
        let s3 = try TestS3.load()
        let bucket = try s3.makeBucket("pitr-outage")
        // The S3 sink goes through a proxy, which is replaced by one that fails every request for the outage.
        var proxy: FaultProxy? = try FaultProxy(target: s3.endpoint.replacingOccurrences(of: "http://", with: ""), arguments: [])
        let proxyPort = proxy!.port
        let hook = TestHTTPReceiver.uniquePath("pitr-lag")
        let latencyLog = NSTemporaryDirectory() + "pitr-latency-\(UUID().uuidString.prefix(8))"
        let pushScript = latencyLog + ".sh"
        let cluster = try ScratchPostgres("pitr-outage", port: 55701, pitr: ["max_wal_lag: 2s"], sinks: """
          - name: offsite
            type: s3
            endpoint: http://127.0.0.1:\(proxyPort)
            region: \(s3.region)
            bucket: \(bucket)
            path_style: true
            access_key: \(s3.accessKey)
            secret_key: \(s3.secretKey)
            max_attempts: 1
        """, extra: webhook(hook), archiveCommand: "\(pushScript) %p") { cluster in
            // archive_command, timed: each line of the log is one push's milliseconds.
            try writeFile(pushScript, """
            #!/bin/sh
            start=$(date +%s%N)
            \(backupctlPath) wal push --config \(cluster.planPath) "$1"
            rc=$?
            echo $(( ($(date +%s%N) - start) / 1000000 )) >> \(latencyLog)
            exit $rc
            """, mode: 0o755)
            try writeFile(latencyLog, "", mode: 0o666)
            chmod(latencyLog, 0o666)
        }
        defer { cluster.remove(); unlink(latencyLog); unlink(pushScript) }

        try ScratchPostgres.check(cluster.backupctl(["run"]))
        try cluster.switchAndDrain()

        // Outage: every S3 request fails.
        proxy = nil
        proxy = try FaultProxy(target: s3.endpoint.replacingOccurrences(of: "http://", with: ""), arguments: ["--fail-always"], listenPort: proxyPort)
        let failedBefore = try cluster.sql("SELECT failed_count FROM pg_stat_archiver")
        let archivedBefore = Int(try cluster.sql("SELECT archived_count FROM pg_stat_archiver"))!
        try cluster.sql("CREATE TABLE load(id bigserial, payload text)")
        for _ in 0..<6 {
            try cluster.sql("INSERT INTO load(payload) SELECT repeat('x', 1000) FROM generate_series(1, 20000)")
            try cluster.sql("SELECT pg_switch_wal()")
        }
        // PostgreSQL archives every segment while S3 is down: none fails, the spool holds them.
        #expect(waitUntil(timeout: 60) { (Int((try? cluster.sql("SELECT archived_count FROM pg_stat_archiver")) ?? "0") ?? 0) >= archivedBefore + 6 })
        #expect(try cluster.sql("SELECT failed_count FROM pg_stat_archiver") == failedBefore)
        let spooled = ((try? FileManager.default.contentsOfDirectory(atPath: cluster.spool + "/queue")) ?? []).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".sha256") }
        #expect(spooled.count >= 6, "the spool grows while the sink is down: \(spooled)")
        // The local sink keeps receiving WAL during the off-site outage.
        #expect(waitUntil(timeout: 60) { Set(spooled).isSubset(of: Set(cluster.archivedNames())) })
        #expect(waitUntil(timeout: 60) { events(hook).contains("wal_lag") }, "wal_lag alert: \(events(hook))")
        let status = try cluster.backupctl(["wal", "status", "--json"])
        #expect(status.status == 1 && status.stdout.contains("wal_lag"), "\(status.stdout)")

        // S3 is back: the archive catches up, with no gap, in both sinks.
        proxy = nil
        proxy = try FaultProxy(target: s3.endpoint.replacingOccurrences(of: "http://", with: ""), arguments: [], listenPort: proxyPort)
        #expect(waitUntil(timeout: 120) {
            ((try? FileManager.default.contentsOfDirectory(atPath: cluster.spool + "/queue")) ?? []).filter { !$0.hasPrefix(".") }.isEmpty
        })
        let offsite = try s3.python("""
        import boto3, os
        c = boto3.client('s3', endpoint_url='\(s3.endpoint)', aws_access_key_id='\(s3.accessKey)', aws_secret_access_key='\(s3.secretKey)', region_name='\(s3.region)')
        keys = [o['Key'] for p in c.get_paginator('list_objects_v2').paginate(Bucket='\(bucket)') for o in p.get('Contents', [])]
        print('\\n'.join(sorted(k for k in keys if k.startswith('wal_'))))
        """).split(separator: "\n").compactMap { ArchivedWAL(StoredObject(key: String($0), size: 0), plan: cluster.planName, source: "db")?.name.name }
        #expect(offsite.sorted() == cluster.archivedNames(), "every WAL file in both sinks")
        let healthy = try cluster.backupctl(["wal", "status", "--json"])
        #expect(healthy.status == 0, "\(healthy.stdout)")
        #expect(healthy.stdout.contains("\"gaps\":[]") || healthy.stdout.contains("\"gaps\" : [\n\n  ]") || !healthy.stdout.contains("wal_gap"))
        let latencies = ((try? String(contentsOfFile: latencyLog, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) }.sorted()
        if !latencies.isEmpty {
            print("archive_command during the test: \(latencies.count) pushes, median \(latencies[latencies.count / 2]) ms, max \(latencies.last!) ms")
        }
        withExtendedLifetime(proxy) {}
    }

    /// The newest set's base backup details from its manifest in the local sink.
    func baseBackup(_ cluster: ScratchPostgres) throws -> [String: Any] {
        let manifests = try FileManager.default.contentsOfDirectory(atPath: cluster.backups).filter { $0.hasPrefix("manifest_") }.sorted()
        let data = try #require(FileManager.default.contents(atPath: cluster.backups + "/" + manifests.last!))
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let artifacts = try #require(manifest["artifacts"] as? [[String: Any]])
        return try #require(artifacts.first { ($0["subject"] as? String) == "base" })
    }

    func segmentNumber(_ name: String) -> UInt64? { WALFileName(name)?.segmentNumber(segmentSize: 16 << 20) }

    @Test func walRetentionRemovesExactlyWhatPrecedesTheOldestKeptBaseBackupAndGapsAreNamed() throws {
        let hook = TestHTTPReceiver.uniquePath("pitr-gap")
        let cluster = try ScratchPostgres("pitr-retention", port: 55702, extra: "metrics_file: ./metrics.prom\nretention:\n  keep_last: 2\n" + webhook(hook))
        defer { cluster.remove() }
        try cluster.sql("CREATE TABLE t(id bigserial, at timestamptz DEFAULT clock_timestamp())")
        for _ in 0..<2 {
            try ScratchPostgres.check(cluster.backupctl(["run"]))
            try cluster.sql("INSERT INTO t DEFAULT VALUES")
            try cluster.switchAndDrain()
        }
        let keptBase = try #require((try baseBackup(cluster)["details"] as? [String: Any])?["start_wal"] as? String)
        try cluster.sql("INSERT INTO t DEFAULT VALUES")
        try cluster.switchAndDrain()
        let before = Set(cluster.archivedNames())
        #expect(before.contains { segmentNumber($0)! < segmentNumber(keptBase)! }, "WAL from before the second base backup exists: \(before.sorted())")
        // The third run keeps two sets: the first set goes, and with it the WAL before the second base backup.
        let third = try ScratchPostgres.check(cluster.backupctl(["run"]))
        #expect(third.stdout.contains("WAL retention removed"), "\(third.stdout)")
        let after = Set(cluster.archivedNames())
        let deleted = before.subtracting(after)
        let expected = before.filter { WALFileName($0)!.kind != .history && segmentNumber($0)! < segmentNumber(keptBase)! }
        #expect(deleted == expected, "deleted \(deleted.sorted()), expected \(expected.sorted())")
        #expect(after.allSatisfy { segmentNumber($0)! >= segmentNumber(keptBase)! })
        #expect(try cluster.backupctl(["wal", "status"]).status == 0)
        let overall = try cluster.backupctl(["status", "--json"])
        #expect(try CommandOutputTests.violation(of: "status", in: overall.stdout) == nil)
        #expect(overall.stdout.contains("\"pitr\""))
        let metrics = (try? String(contentsOfFile: cluster.root.sub("metrics.prom"), encoding: .utf8)) ?? ""
        for gauge in ["backupkit_wal_last_archived_age_seconds", "backupkit_wal_spool_bytes", "backupkit_pitr_window_start_timestamp_seconds",
                      "backupkit_pitr_window_end_timestamp_seconds"] {
            #expect(metrics.contains(gauge + "{"), "\(gauge) in \(metrics)")
        }
        let setup = try cluster.backupctl(["pitr", "setup", "--json"])
        #expect(setup.status == 0, "\(setup.stdout)\(setup.stderr)")
        #expect(try CommandOutputTests.violation(of: "pitr-setup", in: setup.stdout) == nil)
        #expect(setup.stdout.contains("wal push --config"))

        // A segment deleted in the middle is reported as a gap, by name, and alerts.
        try cluster.switchAndDrain()
        let segments = cluster.archivedNames().filter { WALFileName($0)!.kind == .segment }.sorted()
        let victim = segments[segments.count / 2]
        let key = try #require(cluster.objectKey(of: victim))
        try FileManager.default.removeItem(atPath: cluster.backups + "/" + key)
        let status = try cluster.backupctl(["wal", "status", "--json"])
        #expect(status.status == 1)
        #expect(try CommandOutputTests.violation(of: "wal-status", in: status.stdout) == nil)
        let gaps = try #require((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["gaps"] as? [String])
        #expect(gaps == [victim])
        try ScratchPostgres.check(cluster.backupctl(["run", "--no-prune"]))
        #expect(waitUntil(timeout: 30) { http.requests(pathPrefix: hook).contains { $0.text.contains("wal_gap") && $0.text.contains(victim) } })
    }

    @Test func pitrDrillRecordsItsRecoveryTimeAndFailsLoudlyOnADamagedSegment() throws {
        let hook = TestHTTPReceiver.uniquePath("pitr-drill")
        let cluster = try ScratchPostgres("pitr-drill", port: 55703, extra: webhook(hook))
        defer { cluster.remove() }
        try cluster.sql("CREATE TABLE t(id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
        try ScratchPostgres.check(cluster.backupctl(["run"]))
        for _ in 0..<3 {
            try cluster.sql("INSERT INTO t DEFAULT VALUES")
            Thread.sleep(forTimeInterval: 0.3)
        }
        try cluster.switchAndDrain()
        func scratchClusters() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []).filter { $0.hasPrefix("backupctl-pitr-drill-") })
        }
        let scratchBefore = scratchClusters()
        let drill = try cluster.backupctl(["verify", "--pitr-drill", "--json"])
        #expect(drill.status == 0, "\(drill.stdout)\(drill.stderr)")
        #expect(try CommandOutputTests.violation(of: "pitr-drill", in: drill.stdout) == nil)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(drill.stdout.utf8)) as? [String: Any])
        #expect(result["passed"] as? Bool == true)
        #expect((result["rto_seconds"] as? Double ?? 0) > 0)
        #expect((result["tables"] as? Int ?? 0) >= 1)
        #expect((result["amcheck"] as? String ?? "").contains("passed"))
        let recorded = try #require(try baseBackup(cluster)["restore_test"] as? [String: Any])
        #expect((recorded["summary"] as? String ?? "").contains("PITR drill passed"))
        #expect((recorded["duration_seconds"] as? Double ?? 0) > 0)
        // Nothing of the scratch cluster is left.
        #expect(scratchClusters() == scratchBefore)

        // Damage the base backup's first segment (every recovery from it reads it).
        let start = try #require((try baseBackup(cluster)["details"] as? [String: Any])?["start_wal"] as? String)
        let key = try #require(cluster.objectKey(of: start))
        var bytes = try #require(readFile(cluster.backups + "/" + key))
        bytes[bytes.count / 2] ^= 0xff
        try writeFile(cluster.backups + "/" + key, bytes, mode: 0o600)
        let failed = try cluster.backupctl(["verify", "--pitr-drill"])
        #expect(failed.status == ExitCodes.verificationFailed)
        #expect(failed.stdout.contains("PITR drill FAILED") && failed.stdout.contains(start), "\(failed.stdout)")
        #expect(waitUntil(timeout: 30) { http.requests(pathPrefix: hook).contains { $0.text.contains("verification_failure") && $0.text.contains(start) } })
    }

    /// `drill_every:` makes `run` drill when no drill is recorded within that time, and only once there
    /// is a window to drill in (the first base backup has no WAL after it yet): no false alarm.
    @Test func runDrillsWhenDueAndOnlyOnceThereIsAWindow() throws {
        let hook = TestHTTPReceiver.uniquePath("pitr-run-drill")
        let cluster = try ScratchPostgres("pitr-rundrill", port: 55704, pitr: ["drill_every: 1h"], extra: webhook(hook))
        defer { cluster.remove() }
        try cluster.sql("CREATE TABLE t(id bigserial PRIMARY KEY)")
        var outputs: [String] = []
        for _ in 0..<3 {
            let run = try ScratchPostgres.check(cluster.backupctl(["run", "--no-prune"]))
            outputs.append(run.stdout)
            try cluster.sql("INSERT INTO t DEFAULT VALUES")
            try cluster.switchAndDrain()
        }
        let passed = outputs.filter { $0.contains("PITR drill passed") }.count
        #expect(passed == 1, "one drill in three runs an hour apart at most: \(outputs)")
        #expect(!outputs.joined().contains("FAILED"), "\(outputs)")
        #expect(!events(hook).contains("verification_failure"), "\(events(hook))")
        let drilled = ((try? FileManager.default.contentsOfDirectory(atPath: cluster.backups)) ?? []).filter { $0.hasPrefix("manifest_") }.contains { name in
            String(decoding: FileManager.default.contents(atPath: cluster.backups + "/" + name) ?? Data(), as: UTF8.self).contains("PITR drill passed")
        }
        #expect(drilled, "the drill is recorded in a manifest")
    }
}
