import BackupKit
import Foundation
import Glibc
import Testing

/// `backupctl` as a user runs it: a real process, real files, exit codes and messages.
@Suite(.serialized) struct BackupctlTests {
    /// A working directory with some data and a plan that backs it up into ./backups.
    static func workspace(_ label: String, plan extra: String = "") throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try writeFile(dir.sub("data/readme.txt"), String(repeating: "some text to back up\n", count: 200))
        try writeFile(dir.sub("data/blob.bin"), pseudoRandomBytes(200_000))
        try writeFile(dir.sub("etc/app.env"), "MODE=production\n")
        try writeFile(dir.sub("backup.yml"), """
        name: demo
        sources:
          - { name: minio, type: directory, path: ./data, subject: pdfs }
          - { name: config, type: files, paths: [./etc/app.env] }
        sinks:
          - { name: local, type: local, path: ./backups }
        \(extra)
        """)
        return dir
    }

    static func finalNames(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func runListVerifyRestoreRoundTrip() throws {
        let dir = try Self.workspace("cli-roundtrip")
        defer { dir.remove() }
        let run = try backupctl(["run", "--json"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect(report?["status"] as? String == "succeeded")
        let names = Self.finalNames(dir.sub("backups"))
        #expect(names.count == 3, "\(names)")
        #expect(names.contains { $0.hasPrefix("minio_pdfs_") && $0.hasSuffix(".tar.gz") })
        #expect(names.contains { $0.hasPrefix("manifest_demo_") && $0.hasSuffix(".json") })
        for name in names {
            var info = stat()
            stat(dir.sub("backups/\(name)"), &info)
            #expect(info.st_mode & 0o777 == 0o600, "\(name) is mode \(String(info.st_mode & 0o777, radix: 8))")
        }
        let list = try backupctl(["list"], in: dir.path)
        #expect(list.status == 0 && list.stdout.contains("good"), "\(list.stdout)")
        let verify = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let restore = try backupctl(["restore", "--latest", "--only", "minio", "--to", "restored"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(readFile(dir.sub("restored/blob.bin")) == readFile(dir.sub("data/blob.bin")))
        let again = try backupctl(["restore", "--latest", "--only", "minio", "--to", "restored"], in: dir.path)
        #expect(again.status == 8, "a non-empty target is refused without --force")
        #expect(again.stderr.contains("not empty") && again.stderr.contains("--force"))
        #expect(try backupctl(["restore", "--latest", "--only", "minio", "--to", "restored", "--force"], in: dir.path).status == 0)
    }

    @Test func verifyNamesAFlippedOrTruncatedArtifact() throws {
        let dir = try Self.workspace("cli-verify")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let artifact = try #require(Self.finalNames(dir.sub("backups")).first { $0.hasPrefix("minio_") })
        let path = dir.sub("backups/\(artifact)")
        let original = try #require(readFile(path))

        var flipped = original
        flipped[flipped.count / 2] ^= 0x01
        try writeFile(path, flipped, mode: 0o600)
        let afterFlip = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(afterFlip.status == 3, "\(afterFlip.stdout)")
        #expect(afterFlip.stdout.contains(artifact) && afterFlip.stdout.contains("FAILED"), "\(afterFlip.stdout)")

        try writeFile(path, Array(original.dropLast(1000)), mode: 0o600)
        let afterTruncation = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(afterTruncation.status == 3)
        #expect(afterTruncation.stdout.contains(artifact) && afterTruncation.stdout.contains("FAILED"), "\(afterTruncation.stdout)")

        // A change that still decompresses (the gzip header's timestamp) is caught by the SHA-256 alone.
        var sameSize = original
        sameSize[4] ^= 0x01
        try writeFile(path, sameSize, mode: 0o600)
        let afterHeaderChange = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(afterHeaderChange.status == 3 && afterHeaderChange.stdout.contains(artifact) && afterHeaderChange.stdout.contains("SHA-256"),
                "\(afterHeaderChange.stdout)")

        try writeFile(path, original, mode: 0o600)
        #expect(try backupctl(["verify", "--latest"], in: dir.path).status == 0, "the intact artifact verifies again")
    }

    @Test func sigkillMidArchiveLeavesNothingUnderAFinalName() throws {
        let dir = try Self.workspace("cli-kill")
        defer { dir.remove() }
        // Enough incompressible data that the archive takes a few seconds to write.
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        for index in 0..<12 { try writeFile(dir.sub("data/big-\(index).bin"), Array(random.readData(ofLength: 25 << 20))) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: backupctlPath)
        process.arguments = ["run"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the artifact is being written in the staging area, then kill without warning.
        let staging = dir.sub("backups/.staging/demo")
        let sawPartial = waitUntil(timeout: 30) {
            let partial = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).filter { $0.contains(".tmp-") }
            guard let name = partial.first, let size = (try? FileManager.default.attributesOfItem(atPath: staging + "/" + name))?[.size] as? Int else { return false }
            return size > 5 << 20
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(sawPartial, "the run was killed while it wrote the archive")
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(Self.finalNames(dir.sub("backups")).isEmpty, "no artifact or manifest under a final name: \(Self.finalNames(dir.sub("backups")))")

        let next = try backupctl(["run"], in: dir.path)
        #expect(next.status == 0, "the next run succeeds: \(next.stderr)")
        #expect(Self.finalNames(dir.sub("backups")).count == 3)
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [])
        #expect(leftovers.isEmpty, "the killed run's partial file was cleaned up: \(leftovers)")
    }

    @Test(arguments: [
        ("exlude: [x]", "unknown key 'exlude'"),
        ("retention: { keep_daily: 7", "YAML syntax error"),
        ("staging_dir: ${BACKUPKIT_TEST_UNSET_VARIABLE}", "BACKUPKIT_TEST_UNSET_VARIABLE is not set"),
    ])
    func aBadPlanExitsTwoNamesTheLineAndWritesNothing(line: String, expected: String) throws {
        let dir = try TemporaryDirectory("cli-badplan")
        defer { dir.remove() }
        try writeFile(dir.sub("data/file.txt"), "data\n")
        let plan = line.hasPrefix("exlude")
            ? "name: demo\nsources:\n  - name: minio\n    type: directory\n    path: ./data\n    \(line)\nsinks:\n  - { name: local, type: local, path: ./backups }\n"
            : "name: demo\nsources:\n  - { name: minio, type: directory, path: ./data }\nsinks:\n  - { name: local, type: local, path: ./backups }\n\(line)\n"
        try writeFile(dir.sub("backup.yml"), plan)
        let result = try backupctl(["run"], in: dir.path)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.range(of: #"backup\.yml:\d+"#, options: .regularExpression) != nil, "names the file and line: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("backups")), "nothing was written")
        #expect(try backupctl(["config", "check"], in: dir.path).status == 2)
    }

    @Test func aSecondRunExitsAtOnceWhileTheLockIsHeld() throws {
        let dir = try Self.workspace("cli-lock")
        defer { dir.remove() }
        let lock = try RunLock.acquire(path: dir.sub("backups/.backupctl-demo.lock"), plan: "demo")
        // What the run holding the lock is writing must survive a refused run.
        try writeFile(dir.sub("backups/.staging/demo/.minio_pdfs_20240101_000000.tar.gz.tmp-inflight"), "in flight", mode: 0o600)
        let blocked = try backupctl(["run"], in: dir.path)
        #expect(blocked.status == 5, "\(blocked.stderr)")
        #expect(blocked.stderr.contains("another run of plan 'demo' is in progress"))
        #expect(Self.finalNames(dir.sub("backups")).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.sub("backups/.staging/demo/.minio_pdfs_20240101_000000.tar.gz.tmp-inflight")),
                "the refused run left the running run's staging alone")
        lock.release()
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.sub("backups/.backupctl-demo.lock")), "no lock file is left behind")
    }

    @Test func configCheckAndPrint() throws {
        let dir = try Self.workspace("cli-config", plan: "retention: { keep_daily: 3 }")
        defer { dir.remove() }
        let check = try backupctl(["config", "check"], in: dir.path)
        #expect(check.status == 0 && check.stdout.contains("is valid"), "\(check.stdout)\(check.stderr)")
        let printed = try backupctl(["config", "print"], in: dir.path)
        #expect(printed.status == 0)
        #expect(printed.stdout.contains("keep_daily: 3") && printed.stdout.contains("format: tar.gz") && printed.stdout.contains("min_size"), "\(printed.stdout)")
    }

    @Test func pruneDryRunShowsEverySetWithItsReason() throws {
        let dir = try Self.workspace("cli-prune", plan: "retention: { keep_last: 1 }")
        defer { dir.remove() }
        #expect(try backupctl(["run", "--no-prune"], in: dir.path).status == 0)
        #expect(try backupctl(["run", "--no-prune"], in: dir.path).status == 0)
        let dry = try backupctl(["prune", "--dry-run"], in: dir.path)
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("keep") && dry.stdout.contains("newest good set"), "\(dry.stdout)")
        #expect(dry.stdout.contains("delete") && dry.stdout.contains("not selected by any keep_* rule"), "\(dry.stdout)")
        #expect(Self.finalNames(dir.sub("backups")).count == 6, "a dry run deletes nothing")
        #expect(try backupctl(["prune"], in: dir.path).status == 0)
        #expect(Self.finalNames(dir.sub("backups")).count == 3)
    }

    @Test func environmentOnlyPlanWithTheSeedVariables() throws {
        let dir = try TemporaryDirectory("cli-env")
        defer { dir.remove() }
        try writeFile(dir.sub("volume/a.txt"), "a\n")
        let result = try backupctl(["run"], in: dir.path, environment: [
            "BACKUP_DIR": dir.sub("out"), "BACKUP_RETENTION_DAYS": "3", "BACKUP_SOURCE_DIRS": "minio=\(dir.sub("volume"))", "BACKUP_NAME": "schedgen",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.finalNames(dir.sub("out")).contains { $0.hasPrefix("minio_schedgen_") })
        let none = try backupctl(["run"], in: dir.path)
        #expect(none.status == 2 && none.stderr.contains("BACKUP_SOURCE_DIRS"), "\(none.stderr)")
    }

    @Test func helpExplainsExitCodes() throws {
        let help = try backupctl(["--help"], in: "/")
        #expect(help.stdout.contains("Exit codes") && help.stdout.contains("verification failed"))
    }

    @Test func anUnknownSinkIsAUsageErrorThatNamesThePlansSinks() throws {
        let dir = try Self.workspace("cli-unknown-sink")
        defer { dir.remove() }
        for command in [["list"], ["verify", "--latest"], ["prune", "--dry-run"], ["status"]] {
            let result = try backupctl(command + ["--sink", "nope"], in: dir.path)
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("--sink nope") && result.stderr.contains("its sinks are local"), "\(command): \(result.stderr)")
        }
    }
}
