import BackupKit
import BackupSinks
import Foundation
import Glibc
import Testing

/// Sets are authenticated: every manifest is signed with the plan's Ed25519 key, and a manifest that
/// was changed, signed by another key or not signed at all is reported by `list` and `verify`, and
/// refused by `restore` (unsigned ones restore with --allow-unsigned).
@Suite(.serialized) struct SignedSetTests {
    static func manifestPath(_ dir: TemporaryDirectory) throws -> String {
        dir.sub("backups/" + (try #require(BackupctlTests.finalNames(dir.sub("backups")).last { $0.hasPrefix("manifest_") })))
    }

    static func manifest(at path: String) throws -> Manifest {
        try Manifest.decode(try #require(readFile(path)), key: (path as NSString).lastPathComponent)
    }

    static func listing(_ dir: TemporaryDirectory) throws -> [String: Any] {
        let list = try backupctl(["list", "--json"], in: dir.path)
        let sinks = (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["sinks"] as? [[String: Any]]
        return try #require((sinks?.first?["sets"] as? [[String: Any]])?.first, "\(list.stdout)\(list.stderr)")
    }

    @Test func theFirstRunMakesAPrivateKeyAndSignsTheManifest() throws {
        let dir = try BackupctlTests.workspace("signed-first-run")
        defer { dir.remove() }
        #expect(try backupctl(["key"], in: dir.path).status == 9, "no key before the first run")
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        let keyFile = dir.sub("backups/.backupctl-demo.signing-key")
        var info = stat()
        #expect(stat(keyFile, &info) == 0 && info.st_mode & 0o777 == 0o600, "the key file is 0600")
        let key = try backupctl(["key", "--json"], in: dir.path)
        let shown = try JSONSerialization.jsonObject(with: Data(key.stdout.utf8)) as? [String: Any]
        let manifest = try Self.manifest(at: Self.manifestPath(dir))
        #expect(manifest.signature?.keyID == shown?["key_id"] as? String && manifest.signature?.algorithm == "ed25519", "\(key.stdout)")
        #expect(manifest.artifacts.allSatisfy { $0.sha256.count == 64 }, "the signed manifest lists every artifact's SHA-256")
        #expect(try Self.listing(dir)["signature"] as? String == "valid")
        let manifestText = readFile(try Self.manifestPath(dir)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(!manifestText.isEmpty && !manifestText.contains("ed25519-private"), "the private key is never in a manifest")

        // The key is kept: the next run signs with the same one.
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        #expect(try Self.manifest(at: Self.manifestPath(dir)).signature?.keyID == manifest.signature?.keyID)
    }

    /// A manifest edited after it was signed (here: one artifact's content bytes) fails everywhere, naming the manifest, what was expected and what was found.
    @Test func aChangedManifestIsReportedAndRefused() throws {
        let dir = try BackupctlTests.workspace("signed-changed")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let path = try Self.manifestPath(dir)
        let name = (path as NSString).lastPathComponent
        var manifest = try Self.manifest(at: path)
        let index = try #require(manifest.artifacts.firstIndex { $0.source == "config" })
        manifest.artifacts[index].contentBytes += 1
        try writeFile(path, try manifest.encoded(), mode: 0o600)

        let listed = try Self.listing(dir)
        #expect(listed["signature"] as? String == "invalid" && listed["status"] as? String == "bad", "\(listed)")
        let verify = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(verify.status == 3 && verify.stdout.contains("bad signature") && verify.stdout.contains(name), "\(verify.stdout)\(verify.stderr)")
        let drill = try backupctl(["verify", "--latest", "--restore-test"], in: dir.path)
        #expect(drill.status == 3 && drill.stdout.contains("bad signature"), "\(drill.stdout)")
        let restore = try backupctl(["restore", "--to", "restored"], in: dir.path)
        #expect(restore.status == 8, "exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains(name) && restore.stderr.contains("does not match its contents") && restore.stderr.contains("exit 8"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restored")))
        let byTimestamp = try backupctl(["restore", "--set", manifest.timestamp.description, "--to", "restored"], in: dir.path)
        #expect(byTimestamp.status == 8 && byTimestamp.stderr.contains("bad signature"), "\(byTimestamp.stderr)")
        let allowed = try backupctl(["restore", "--allow-unsigned", "--to", "restored"], in: dir.path)
        #expect(allowed.status == 8, "--allow-unsigned never lets a failing signature through: \(allowed.stderr)")

        // The next run warns of it (and so alerts), and retention keeps it for inspection.
        let run = try backupctl(["run", "--json"], in: dir.path)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let warnings = report?["warnings"] as? [String] ?? []
        #expect(run.status == 0 && warnings.contains { $0.contains(name) && $0.contains("bad signature") }, "\(warnings)")
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func anotherKeysSignatureIsRefusedNamingBothKeys() throws {
        let dir = try BackupctlTests.workspace("signed-other-key")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let path = try Self.manifestPath(dir)
        let manifest = try Self.manifest(at: path)
        let other = try ManifestSigningKey.loadOrCreate(at: dir.sub("other.key")).key
        try writeFile(path, try manifest.signed(with: other).encoded(), mode: 0o600)
        let restore = try backupctl(["restore", "--to", "restored"], in: dir.path)
        #expect(restore.status == 8, "\(restore.stderr)")
        let expectedID = try #require(manifest.signature?.keyID)
        #expect(restore.stderr.contains("signed by key \(other.publicKey.id)") && restore.stderr.contains("expected key \(expectedID)"), "\(restore.stderr)")
    }

    /// Sets written before signing restore only with --allow-unsigned, which says what it skips.
    @Test func anUnsignedSetRestoresOnlyWithAllowUnsigned() throws {
        let dir = try BackupctlTests.workspace("signed-unsigned")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let path = try Self.manifestPath(dir)
        var manifest = try Self.manifest(at: path)
        manifest.signature = nil
        try writeFile(path, try manifest.encoded(), mode: 0o600)

        #expect(try Self.listing(dir)["signature"] as? String == "unsigned")
        #expect(try backupctl(["list"], in: dir.path).stdout.contains("signature: unsigned"))
        let verify = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(verify.status == 3 && verify.stdout.contains("unsigned"), "\(verify.stdout)")
        #expect(try backupctl(["verify", "--latest", "--allow-unsigned"], in: dir.path).status == 0)
        let refused = try backupctl(["restore", "--to", "restored"], in: dir.path)
        #expect(refused.status == 8 && refused.stderr.contains("--allow-unsigned"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restored")))
        let allowed = try backupctl(["restore", "--allow-unsigned", "--to", "restored"], in: dir.path)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stderr.contains("without its manifest's signature checked") && allowed.stderr.contains("nothing proves"), "it says what it skips: \(allowed.stderr)")
        #expect(readFile(dir.sub("restored/minio/blob.bin")) == readFile(dir.sub("data/blob.bin")))
    }

    /// A restore host holds only the public key: it checks with signing.public_key, refuses another
    /// key's sets, and without any key refuses to guess.
    @Test func aRestoreHostChecksWithThePublicKeyAlone() throws {
        let dir = try BackupctlTests.workspace("signed-restore-host")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let publicKey = try #require(try backupctl(["key"], in: dir.path).stdout.split(separator: "\n").first { $0.hasPrefix("public_key: ") })
            .dropFirst("public_key: ".count)
        func restoreHost(_ signing: String) throws {
            try writeFile(dir.sub("restore-host.yml"), """
            name: demo
            state_dir: ./restore-state
            sources:
              - { name: minio, type: directory, path: ./data, subject: pdfs }
              - { name: config, type: files, paths: [./etc/app.env] }
            sinks:
              - { name: local, type: local, path: ./backups }
            \(signing)
            """)
        }
        try restoreHost("signing: { public_key: \"\(publicKey)\" }")
        let restored = try backupctl(["restore", "--config", "restore-host.yml", "--to", "restored"], in: dir.path)
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restore-state/.backupctl-demo.signing-key")), "a restore makes no key")

        let stranger = try ManifestSigningKey.loadOrCreate(at: dir.sub("stranger.key")).key.publicKey.text
        try restoreHost("signing: { public_key: \"\(stranger)\" }")
        let wrong = try backupctl(["restore", "--config", "restore-host.yml", "--to", "wrong"], in: dir.path)
        #expect(wrong.status == 8 && wrong.stderr.contains("expected key"), "\(wrong.stderr)")

        try restoreHost("")
        let none = try backupctl(["restore", "--config", "restore-host.yml", "--to", "none"], in: dir.path)
        #expect(none.status == 8 && none.stderr.contains("signing.public_key"), "\(none.stderr)")
        #expect(try backupctl(["restore", "--config", "restore-host.yml", "--allow-unsigned", "--to", "none"], in: dir.path).status == 0)
    }

    /// A lost key file is never silently replaced while the sink holds sets signed with it.
    @Test func aLostKeyIsNotReplacedWhileSignedSetsRemain() throws {
        let dir = try BackupctlTests.workspace("signed-lost-key")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let keyFile = dir.sub("backups/.backupctl-demo.signing-key")
        try FileManager.default.removeItem(atPath: keyFile)
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 2 && run.stderr.contains("was missing") && run.stderr.contains("signed with another key"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: keyFile), "no new key is left in its place")
        #expect(BackupctlTests.finalNames(dir.sub("backups")).filter { $0.hasPrefix("manifest_") }.count == 1, "no set was written")
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let dir = try BackupctlTests.workspace("signed-loose-key")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        chmod(dir.sub("backups/.backupctl-demo.signing-key"), 0o644)
        let run = try backupctl(["run"], in: dir.path)
        #expect(run.status == 2 && run.stderr.contains("chmod 600"), "\(run.stderr)")
    }
}

/// Retention after the upgrade to signed sets: the unsigned history keeps being kept by the keep_*
/// rules, but an unsigned set newer than every signed one never counts as a good set.
@Suite struct UnsignedRetentionTests {
    static func stripSignature(_ dir: TemporaryDirectory, _ timestamp: SetTimestamp) throws {
        let path = dir.sub("backups/" + ArtifactName.manifest(plan: "app", timestamp: timestamp))
        var manifest = try Manifest.decode(try #require(readFile(path)), key: (path as NSString).lastPathComponent)
        manifest.signature = nil
        try writeFile(path, try manifest.encoded(), mode: 0o600)
    }

    /// Unsigned sets between signed ones (forged by someone who can write to the sink) never take a
    /// keep_* slot from a real set.
    @Test func anUnsignedSetAmongSignedOnesPushesNoRealSetOut() async throws {
        let dir = try TemporaryDirectory("unsigned-among-signed")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let plan = BackupRunnerTests.plan(dir, retention: RetentionPolicy(keepLast: 2))
        let start = Date().addingTimeInterval(-3 * 86_400)
        var sets: [SetTimestamp] = []
        for offset in 0..<3 {
            let at = start.addingTimeInterval(Double(offset) * 86_400)
            sets.append(try #require(await BackupRunner(plan: plan, logger: testLogger, now: { at }).run(.init(prune: false)).set))
        }
        try Self.stripSignature(dir, sets[1])
        let sink = LocalSink(directory: dir.sub("backups"))
        _ = await Pruner(plan: plan, logger: testLogger).prune(sink, dryRun: false)
        let left = try await plan.catalog(in: sink).sets.map(\.timestamp)
        #expect(left.contains(sets[0]) && left.contains(sets[2]), "both signed sets are kept: \(left)")
    }

    @Test func unsignedHistoryIsKeptByTheRulesAndANewerUnsignedSetIsNotGood() async throws {
        let dir = try TemporaryDirectory("unsigned-retention")
        defer { dir.remove() }
        try BackupRunnerTests.fill(dir)
        let plan = BackupRunnerTests.plan(dir, retention: RetentionPolicy(keepDaily: 3))
        let day: TimeInterval = 86_400
        let start = Date().addingTimeInterval(-3 * day)
        var sets: [SetTimestamp] = []
        for offset in 0..<3 {
            let at = start.addingTimeInterval(Double(offset) * day)
            let report = await BackupRunner(plan: plan, logger: testLogger, now: { at }).run(.init(prune: false))
            sets.append(try #require(report.set))
        }
        // The two oldest were written "before the upgrade".
        try Self.stripSignature(dir, sets[0])
        try Self.stripSignature(dir, sets[1])
        let sink = LocalSink(directory: dir.sub("backups"))
        let pruned = await Pruner(plan: plan, logger: testLogger).prune(sink, dryRun: false)
        #expect(pruned.outcome.deleted.isEmpty && pruned.outcome.error == nil, "keep_daily: 3 keeps all three days: \(pruned.decisions)")
        #expect(try await plan.catalog(in: sink).newestGood?.timestamp == sets[2])

        // An unsigned set newer than every signed one (anyone who can write to the sink can make one)
        // is not the newest good set, and does not push the real ones out.
        try Self.stripSignature(dir, sets[2])
        let catalog = try await plan.catalog(in: sink)
        #expect(catalog.newestGood == nil && catalog.sets.allSatisfy { $0.health.isGoodButUnsigned })
        let tight = BackupRunnerTests.plan(dir, retention: RetentionPolicy(keepLast: 1))
        let again = await Pruner(plan: tight, logger: testLogger).prune(sink, dryRun: false)
        #expect(again.outcome.deleted.isEmpty, "nothing is good, so nothing goes: \(again.decisions)")
    }
}

/// When the chosen sink's copy of a set is damaged and another sink holds a good copy.
@Suite struct DamagedCopyFallbackTests {
    @Test func aDamagedLocalCopyIsRestoredFromTheOtherSinkOrNamedWithSink() throws {
        let dir = try BackupctlTests.workspace("fallback-sink", plan: "  - { name: nas, type: local, path: ./nas }")
        defer { dir.remove() }
        #expect(try backupctl(["run"], in: dir.path).status == 0)
        let artifact = try #require(BackupctlTests.finalNames(dir.sub("backups")).first { $0.hasPrefix("minio_") })
        try AllOrNothingRestoreTests.flipByte(in: dir.sub("backups/\(artifact)"))

        let named = try backupctl(["restore", "--sink", "local", "--to", "named"], in: dir.path)
        #expect(named.status == 3, "exit \(named.status): \(named.stderr)")
        #expect(named.stderr.contains(artifact) && named.stderr.contains("--sink nas"), "it offers the sink with a good copy: \(named.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("named")))

        let fallback = try backupctl(["restore", "--to", "restored"], in: dir.path)
        #expect(fallback.status == 0, "\(fallback.stderr)")
        #expect(fallback.stderr.contains("damaged") && fallback.stderr.contains("from sink 'nas'"), "it says so: \(fallback.stderr)")
        #expect(readFile(dir.sub("restored/minio/blob.bin")) == readFile(dir.sub("data/blob.bin")))
    }
}
