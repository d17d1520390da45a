@testable import BackupKit
import Foundation
import Testing

/// Encrypted off-site copies, end to end against the real servers: PostgreSQL, a directory and config
/// files backed up to a plaintext local sink and an age-encrypted SeaweedFS bucket, read back with the
/// real `age` and with backupctl; a host with recipients only; swapped and edited files; every kind of
/// decryption failure; and `key rekey`.
@Suite(.serialized) struct EncryptedSinkTests {
    /// A workspace whose plan backs up a database, a directory and a config file (each holding
    /// `marker`) to `local` (plaintext) and `offsite` (a fresh bucket, encrypted to `team.key`'s
    /// recipient, read from a recipients file).
    struct Workspace {
        let dir: TemporaryDirectory
        let s3: TestS3
        let pg: TestPostgres
        let bucket: String
        let database: String
        let marker: String
        let recipient: String

        static func make(_ label: String, retention: String = "") throws -> Workspace {
            let dir = try TemporaryDirectory(label)
            let s3 = try TestS3.load()
            let pg = try TestPostgres.load()
            let marker = "MARKER-\(UUID().uuidString)"
            let database = TestPostgres.uniqueName("enc")
            try pg.psql("CREATE DATABASE \(database)")
            try pg.psql("CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT '\(marker) ' || i FROM generate_series(1, 500) AS i;",
                        database: database)
            try writeFile(dir.sub("data/invoice.txt"), String(repeating: "\(marker) invoice line\n", count: 300))
            try writeFile(dir.sub("data/scan.pdf"), pseudoRandomBytes(150_000))
            try writeFile(dir.sub("etc/app.env"), "TOKEN_NOTE=\(marker)\n")
            try writeFile(dir.sub("pgpass"), pg.password, mode: 0o600)
            let generated = try backupctl(["key", "generate", "--output", "team.key"], in: dir.path)
            guard generated.status == 0 else { throw BackupError(.io, "key generate failed: \(generated.stderr)") }
            let recipient = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try writeFile(dir.sub("recipients.txt"), "# the team's key\n\(recipient)\n")
            let bucket = try s3.makeBucket(label.lowercased())
            try writeFile(dir.sub("backup.yml"), """
            name: enc
            sources:
              - { name: db, type: postgres, host: \(pg.host), port: \(pg.port), user: \(pg.user), database: \(database), password_file: ./pgpass }
              - { name: minio, type: directory, path: ./data, subject: pdfs }
              - { name: config, type: files, paths: [./etc/app.env] }
            encryption:
              recipients_file: ./recipients.txt
            sinks:
              - { name: local, type: local, path: ./backups, encryption: none }
              - name: offsite
                type: s3
                endpoint: \(s3.endpoint)
                region: \(s3.region)
                bucket: \(bucket)
                path_style: true
                access_key: \(s3.accessKey)
                secret_key: \(s3.secretKey)
            \(retention)
            """)
            return Workspace(dir: dir, s3: s3, pg: pg, bucket: bucket, database: database, marker: marker, recipient: recipient)
        }

        func remove() {
            pg.dropDatabase(database)
            dir.remove()
        }

        func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
            try backupctl(arguments, in: dir.path, environment: environment)
        }

        /// Downloads every object of the bucket into `into`; returns their keys.
        @discardableResult
        func downloadBucket(into: String) throws -> [String] {
            try FileManager.default.createDirectory(atPath: into, withIntermediateDirectories: true)
            let out = try s3.python("""
            import os
            keys = [o['Key'] for o in s3.list_objects_v2(Bucket='\(bucket)').get('Contents', [])]
            for k in keys:
                s3.download_file('\(bucket)', k, os.path.join('\(into)', k))
            print('\\n'.join(keys))
            """)
            return out.split(separator: "\n").map(String.init).sorted()
        }

        func upload(_ path: String, as key: String) throws {
            _ = try s3.python("s3.upload_file('\(path)', '\(bucket)', '\(key)')")
        }

        /// Whether `marker` is in the file's bytes, or in what `gunzip -c` makes of them.
        func holdsMarker(_ path: String) throws -> Bool {
            let raw = readFile(path) ?? []
            if String(decoding: raw, as: UTF8.self).contains(marker) { return true }
            let unzipped = try runProcess("/bin/sh", ["-c", "gunzip -c < '\(path)' 2>/dev/null | tar -xOf - 2>/dev/null || gunzip -c < '\(path)' 2>/dev/null"])
            return unzipped.stdout.contains(marker)
        }
    }

    static func objectKeys(_ keys: [String]) -> (artifacts: [String], manifests: [String]) {
        (keys.filter { !$0.hasPrefix("manifest_") }, keys.filter { $0.hasPrefix("manifest_") })
    }

    /// Must show 2: the bucket holds no plaintext, `age -d | gunzip -t` passes on every artifact, and a
    /// restore from the encrypted sink gives back the database, the files and the config exactly.
    @Test func theBucketHoldsNoPlaintextAndRestoresExactly() throws {
        let space = try Workspace.make("enc-roundtrip")
        defer { space.remove() }
        let run = try space.run(["run", "--json"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")

        // The check can see the marker: the plaintext local sink holds it in every artifact.
        let local = space.dir.sub("backups")
        let localArtifacts = BackupctlTests.finalNames(local).filter { !$0.hasPrefix("manifest_") }
        #expect(localArtifacts.count == 3, "\(localArtifacts)")
        for name in localArtifacts { #expect(try space.holdsMarker(local + "/" + name), "the local copy \(name) is plaintext") }

        let mirror = space.dir.sub("bucket")
        let keys = try space.downloadBucket(into: mirror)
        let (artifacts, manifests) = Self.objectKeys(keys)
        #expect(artifacts.count == 3 && artifacts.allSatisfy { $0.hasSuffix(".gz.age") }, "\(keys)")
        #expect(artifacts.contains { $0.hasPrefix("db_") && $0.hasSuffix(".sql.gz.age") } && artifacts.contains { $0.hasPrefix("minio_pdfs_") && $0.hasSuffix(".tar.gz.age") })
        #expect(manifests.count == 1)
        for key in keys {
            #expect(try !space.holdsMarker(mirror + "/" + key), "\(key) in the bucket holds the marker in plaintext")
        }
        let sealed = String(decoding: readFile(mirror + "/" + manifests[0]) ?? [], as: UTF8.self)
        // Quoted, as JSON keys and values are: the sealed part is base64, where three bare letters turn up by chance.
        #expect(sealed.contains("\"encryption\" : \"age\"") && !sealed.contains("\"notes") && !sealed.contains("\"row_count\"")
                && !sealed.contains("\"tables\""), "the manifest in the bucket is sealed: no table names or row counts")

        // The standard tool reads every artifact.
        for key in artifacts {
            let check = try runProcess("/bin/sh", ["-c", "age -d -i '\(space.dir.sub("team.key"))' '\(mirror)/\(key)' | gunzip -t"])
            #expect(check.status == 0, "age -d | gunzip -t on \(key): \(check.stderr)")
        }

        // Restore from the encrypted sink: files, config, and the database into a new one.
        let files = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "minio", "--to", "restored-files"])
        #expect(files.status == 0, "\(files.stderr)")
        let sameFiles = readFile(space.dir.sub("restored-files/invoice.txt")) == readFile(space.dir.sub("data/invoice.txt"))
            && readFile(space.dir.sub("restored-files/scan.pdf")) == readFile(space.dir.sub("data/scan.pdf"))
        #expect(sameFiles, "the directory restores exactly")
        let config = try space.run(["restore", "--sink", "offsite", "--only", "config", "--to", "restored-config"],
                                   environment: [IdentityFile.variable: space.dir.sub("team.key")])
        #expect(config.status == 0, "\(config.stderr)")
        let restoredConfig = listTree(space.dir.sub("restored-config")).first { $0.hasSuffix("app.env") }
        #expect(restoredConfig.flatMap { readFile(space.dir.sub("restored-config/" + $0)) } == readFile(space.dir.sub("etc/app.env")))
        let copy = TestPostgres.uniqueName("enc_restored")
        defer { space.pg.dropDatabase(copy) }
        let db = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "db", "--to-database", copy])
        #expect(db.status == 0, "\(db.stderr)")
        #expect(try space.pg.psql(PostgresFixture.contentQuery, database: copy) == space.pg.psql(PostgresFixture.contentQuery, database: space.database))
    }

    /// Must show 3: a host with the recipients only runs, prunes and checks the ciphertexts; restoring
    /// says the identity is needed (exit 17), and writes nothing.
    @Test func aHostWithRecipientsOnlyRunsPrunesAndChecksCiphertext() throws {
        let space = try Workspace.make("enc-recipients-only", retention: "retention: { keep_last: 1, keep_daily: 0, keep_weekly: 0, keep_monthly: 0 }")
        defer { space.remove() }
        try FileManager.default.removeItem(atPath: space.dir.sub("team.key"))
        #expect(try space.run(["run"]).status == 0)
        let second = try space.run(["run", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let keys = try space.downloadBucket(into: space.dir.sub("bucket"))
        #expect(Self.objectKeys(keys).manifests.count == 1, "retention pruned the older encrypted set: \(keys)")

        let verify = try space.run(["verify", "--sink", "offsite"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("ciphertext checked") && verify.stdout.contains("the content check needs the identity"), "\(verify.stdout)")

        let restore = try space.run(["restore", "--sink", "offsite", "--only", "minio", "--to", "restored"])
        #expect(restore.status == 17, "exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains("needs the identity") && restore.stderr.contains("--identity FILE"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: space.dir.sub("restored")))
    }

    /// Must show 4: an artifact replaced by another valid age file to the same recipient, and an edited
    /// sealed manifest, are both refused, naming the file.
    @Test func aReplacedArtifactAndAnEditedManifestAreRefused() throws {
        let space = try Workspace.make("enc-swapped")
        defer { space.remove() }
        #expect(try space.run(["run"]).status == 0)
        let mirror = space.dir.sub("bucket")
        let keys = try space.downloadBucket(into: mirror)
        let target = try #require(keys.first { $0.hasPrefix("minio_pdfs_") })
        // A valid age file to the same recipient, of the very same size: only the hashes tell.
        let plainName = String(target.dropLast(".age".count))
        let plainSize = try #require(readFile(space.dir.sub("backups/" + plainName))).count
        let forged = try runProcess("/bin/sh", ["-c", "head -c \(plainSize) /dev/urandom | age -r \(space.recipient) > forged.age"], directory: space.dir.path)
        #expect(forged.status == 0, "\(forged.stderr)")
        #expect(readFile(space.dir.sub("forged.age"))?.count == readFile(mirror + "/" + target)?.count, "the forgery has the genuine file's size")
        try space.upload(space.dir.sub("forged.age"), as: target)

        let restore = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "minio", "--to", "restored"])
        #expect(restore.status == 3, "exit \(restore.status): \(restore.stderr)")
        #expect(restore.stderr.contains(target) && restore.stderr.contains("replaced"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: space.dir.sub("restored")))
        let verify = try space.run(["verify", "--sink", "offsite"])
        #expect(verify.status == 3 && verify.stdout.contains(target) && verify.stdout.contains("replaced"), "ciphertext verify sees it too: \(verify.stdout)")
        let full = try space.run(["verify", "--sink", "offsite", "--identity", "team.key"])
        #expect(full.status == 3 && full.stdout.contains("replaced"), "\(full.stdout)")

        // Without --sink, the restore takes the same set from the plaintext local sink instead, and says why.
        let fallback = try space.run(["restore", "--identity", "team.key", "--only", "minio", "--to", "restored"])
        #expect(fallback.status == 0 || fallback.stderr.contains("local"), "\(fallback.stderr)")
        try? FileManager.default.removeItem(atPath: space.dir.sub("restored"))

        // A file of another size is named too.
        try writeFile(space.dir.sub("short.age"), Array((readFile(space.dir.sub("forged.age")) ?? []).prefix(1000)))
        try space.upload(space.dir.sub("short.age"), as: target)
        let short = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "minio", "--to", "restored"])
        #expect(short.status != 0 && short.stderr.contains(target), "\(short.status): \(short.stderr)")
        #expect(!FileManager.default.fileExists(atPath: space.dir.sub("restored")))

        // Put the genuine file back, then edit the sealed manifest: its signature fails.
        try space.upload(mirror + "/" + target, as: target)
        #expect(try space.run(["verify", "--sink", "offsite"]).status == 0)
        let manifestKey = try #require(Self.objectKeys(keys).manifests.first)
        let text = String(decoding: readFile(mirror + "/" + manifestKey) ?? [], as: UTF8.self)
        let edited = text.replacingOccurrences(of: "\"verified\" : true", with: "\"verified\" : false")
        #expect(edited != text)
        try writeFile(space.dir.sub("edited.json"), edited)
        try space.upload(space.dir.sub("edited.json"), as: manifestKey)
        let refused = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "minio", "--to", "restored"])
        #expect(refused.status == 8 && refused.stderr.contains("bad signature") && refused.stderr.contains(manifestKey), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: space.dir.sub("restored")))
    }

    /// Wrong identity, wrong passphrase, a truncated file, a flipped byte in the header and in the
    /// payload: each its own error and exit code, and nothing written to the target.
    @Test func eachDecryptionFailureHasItsOwnExitCode() throws {
        let space = try Workspace.make("enc-failures")
        defer { space.remove() }
        #expect(try space.run(["run"]).status == 0)
        let mirror = space.dir.sub("bucket")
        let keys = try space.downloadBucket(into: mirror)
        let target = try #require(keys.first { $0.hasPrefix("minio_pdfs_") })
        let genuine = try #require(readFile(mirror + "/" + target))
        let restoreArguments = ["restore", "--sink", "offsite", "--only", "minio", "--to", "restored"]
        func attempt(_ label: String, _ extra: [String], environment: [String: String] = [:]) throws -> ProcessResult {
            let result = try space.run(restoreArguments + extra, environment: environment)
            #expect(!FileManager.default.fileExists(atPath: space.dir.sub("restored")), "\(label): nothing is written")
            return result
        }

        #expect(try space.run(["key", "generate", "--output", "other.key"]).status == 0)
        let wrong = try attempt("wrong identity", ["--identity", "other.key"])
        #expect(wrong.status == 18 && wrong.stderr.contains("none of the identities given opens it"), "\(wrong.status): \(wrong.stderr)")

        let passphrase = try space.run(["key", "generate", "--passphrase", "--output", "locked.key"], environment: [IdentityFile.passphraseVariable: "correct horse"])
        #expect(passphrase.status == 0, "\(passphrase.stderr)")
        #expect(readFile(space.dir.sub("locked.key"))?.starts(with: Array("age-encryption.org/v1\n".utf8)) == true, "the identity file is itself an age file")
        let badPassphrase = try attempt("wrong passphrase", ["--identity", "locked.key"], environment: [IdentityFile.passphraseVariable: "wrong horse"])
        #expect(badPassphrase.status == 19 && badPassphrase.stderr.contains("passphrase"), "\(badPassphrase.status): \(badPassphrase.stderr)")

        // A byte of the X25519 stanza's body (the second line of the stanza): the header's MAC fails.
        let stanza = try #require(genuine.firstIndex(of: UInt8(ascii: ">")))
        let body = try #require(genuine[stanza...].firstIndex(of: 0x0A)) + 5
        var flippedHeader = genuine
        flippedHeader[body] = flippedHeader[body] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try writeFile(space.dir.sub("flipped-header"), flippedHeader)
        try space.upload(space.dir.sub("flipped-header"), as: target)
        let damagedHeader = try attempt("flipped header", ["--identity", "team.key"])
        #expect(damagedHeader.status == 21 && damagedHeader.stderr.contains("header"), "\(damagedHeader.status): \(damagedHeader.stderr)")

        var flippedPayload = genuine
        flippedPayload[genuine.count - 100] ^= 0x01
        try writeFile(space.dir.sub("flipped-payload"), flippedPayload)
        try space.upload(space.dir.sub("flipped-payload"), as: target)
        let damagedPayload = try attempt("flipped payload", ["--identity", "team.key"])
        #expect(damagedPayload.status == 21 && damagedPayload.stderr.contains("fails its authentication"), "\(damagedPayload.status): \(damagedPayload.stderr)")

        try writeFile(space.dir.sub("truncated"), Array(genuine.prefix(genuine.count - 5000)))
        try space.upload(space.dir.sub("truncated"), as: target)
        let truncated = try attempt("truncated", ["--identity", "team.key"])
        #expect(truncated.status == 20 && truncated.stderr.contains("cut short"), "\(truncated.status): \(truncated.stderr)")

        try space.upload(mirror + "/" + target, as: target)
        let fine = try space.run(restoreArguments + ["--identity", "team.key"])
        #expect(fine.status == 0, "the genuine file restores: \(fine.stderr)")
    }

    /// Must show 5: after `key rekey`, the old identity no longer opens the set and the new one does,
    /// with the payload bytes (everything after the header) unchanged, copied inside the server.
    @Test func rekeyReplacesOnlyTheHeaders() throws {
        let space = try Workspace.make("enc-rekey")
        defer { space.remove() }
        // A 12 MiB artifact, so that the S3 copy takes the multipart path with a server-side part.
        try writeFile(space.dir.sub("data/big.bin"), pseudoRandomBytes(12 << 20, seed: 7))
        #expect(try space.run(["run"]).status == 0)
        let before = space.dir.sub("before")
        let keys = try space.downloadBucket(into: before)
        let generated = try space.run(["key", "generate", "--output", "new.key"])
        let newRecipient = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let rekey = try space.run(["key", "rekey", "--sink", "offsite", "--identity", "team.key", "--recipient", newRecipient, "--json"])
        #expect(rekey.status == 0, "\(rekey.stdout)\(rekey.stderr)")
        #expect(rekey.stdout.contains("server-side copy"), "\(rekey.stdout)")
        let after = space.dir.sub("after")
        #expect(try space.downloadBucket(into: after) == keys)
        for key in Self.objectKeys(keys).artifacts {
            let old = try #require(readFile(before + "/" + key)), new = try #require(readFile(after + "/" + key))
            let oldEnd = try #require(AgeHeader.end(in: old)), newEnd = try #require(AgeHeader.end(in: new))
            let payloadUnchanged = old[oldEnd...] == new[newEnd...]
            let headerChanged = old[..<oldEnd] != new[..<newEnd]
            #expect(payloadUnchanged, "\(key): the payload is unchanged")
            #expect(headerChanged, "\(key): the header is new")
            let oldOpens = try runProcess("/bin/sh", ["-c", "age -d -i team.key '\(after)/\(key)' > /dev/null"], directory: space.dir.path)
            #expect(oldOpens.status != 0, "\(key): the old identity no longer opens it")
            let newOpens = try runProcess("/bin/sh", ["-c", "age -d -i new.key '\(after)/\(key)' | gunzip -t"], directory: space.dir.path)
            #expect(newOpens.status == 0, "\(key): the new identity opens it: \(newOpens.stderr)")
        }
        let sealed = String(decoding: readFile(after + "/" + (Self.objectKeys(keys).manifests.first ?? "")) ?? [], as: UTF8.self)
        #expect(sealed.contains("\"rekeys\"") && sealed.contains(newRecipient), "the sealed manifest records the rekey")

        let old = try space.run(["restore", "--sink", "offsite", "--identity", "team.key", "--only", "minio", "--to", "restored-old"])
        #expect(old.status == 18, "\(old.status): \(old.stderr)")
        let restored = try space.run(["restore", "--sink", "offsite", "--identity", "new.key", "--only", "minio", "--to", "restored"])
        #expect(restored.status == 0, "\(restored.stderr)")
        let same = readFile(space.dir.sub("restored/big.bin")) == readFile(space.dir.sub("data/big.bin"))
        #expect(same, "the rekeyed set restores the big file exactly")
        let verify = try space.run(["verify", "--sink", "offsite", "--identity", "new.key"])
        #expect(verify.status == 0 && !verify.stdout.contains("needs the identity"), "a full verify after the rekey: \(verify.stdout)")
    }
}

extension EncryptedSinkTests {
    /// No identity line, passphrase or file key in anything backupctl prints (at trace level), stores
    /// or records, through runs, verifies, restores (a failing one too) and a rekey.
    @Test func identitiesAndPassphrasesNeverLeak() throws {
        let space = try Workspace.make("enc-secrets")
        defer { space.remove() }
        let passphrase = "leak-check-\(UUID().uuidString)"
        let locked = try space.run(["key", "generate", "--passphrase", "--output", "locked.key"], environment: [IdentityFile.passphraseVariable: passphrase])
        #expect(locked.status == 0)
        let lockedRecipient = locked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try writeFile(space.dir.sub("recipients.txt"), "\(space.recipient)\n\(lockedRecipient)\n")
        let teamSecret = try #require(String(decoding: readFile(space.dir.sub("team.key")) ?? [], as: UTF8.self)
            .split(separator: "\n").first { $0.hasPrefix("AGE-SECRET-KEY-1") }).description
        let trace = ["--log-level", "trace"]
        let environment = [IdentityFile.passphraseVariable: passphrase]
        var outputs: [ProcessResult] = []
        outputs.append(try space.run(["run", "--json"] + trace, environment: environment))
        outputs.append(try space.run(["verify", "--sink", "offsite", "--identity", "team.key", "--identity", "locked.key"] + trace, environment: environment))
        outputs.append(try space.run(["restore", "--sink", "offsite", "--identity", "locked.key", "--only", "minio", "--to", "r1"] + trace, environment: environment))
        outputs.append(try space.run(["restore", "--sink", "offsite", "--identity", "locked.key", "--only", "minio", "--to", "r2"] + trace,
                                     environment: [IdentityFile.passphraseVariable: passphrase + "x"]))
        outputs.append(try space.run(["key", "rekey", "--sink", "offsite", "--identity", "team.key", "--recipient", lockedRecipient] + trace))
        outputs.append(try space.run(["list", "--json"] + trace))
        outputs.append(try space.run(["status", "--json"] + trace))
        outputs.append(try space.run(["config", "print"] + trace))
        #expect(outputs[0].status == 0 && outputs[1].status == 0 && outputs[2].status == 0 && outputs[3].status == 19 && outputs[4].status == 0,
                "\(outputs.map(\.status))")
        let printed = outputs.map { $0.stdout + $0.stderr }
        var stored: [String] = []
        let mirror = space.dir.sub("bucket")
        for key in try space.downloadBucket(into: mirror) { stored.append(String(decoding: readFile(mirror + "/" + key) ?? [], as: UTF8.self)) }
        for name in listTree(space.dir.sub("backups")) {
            stored.append(String(decoding: readFile(space.dir.sub("backups/" + name)) ?? [], as: UTF8.self))
        }
        #expect(!printed.isEmpty && stored.count > 4)
        for secret in [teamSecret, passphrase, "AGE-SECRET-KEY-1"] {
            #expect(!printed.contains { $0.contains(secret) }, "printed output holds a secret")
            #expect(!stored.contains { $0.contains(secret) }, "a stored file holds a secret")
        }
        #expect(printed[7].contains(space.recipient) || printed[7].contains("recipients_file"), "config print shows the public side only")
    }
}
