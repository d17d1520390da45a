import BackupKit
import Foundation
import Glibc
import Testing

/// `mode: incremental` on a directory source, through the real binary: what a run reads and stores,
/// what every kept set restores, what retention deletes, and what damage does.
struct IncrementalSetTests {
    static func workspace(_ label: String, retention: String = "keep_last: 30") throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory(label)
        try TreeFixture.build(at: dir.sub("data"))
        try writeFile(dir.sub("backup.yml"), """
        name: inc
        sources:
          - { name: files, type: directory, path: ./data, mode: incremental }
        sinks:
          - { name: local, type: local, path: ./backups }
        retention: { \(retention) }
        """)
        return dir
    }

    static func run(_ dir: TemporaryDirectory, _ extra: [String] = ["--no-prune"]) throws -> Manifest {
        let run = try backupctl(["run"] + extra, in: dir.path)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        return try newestManifest(dir)
    }

    static func manifests(_ dir: TemporaryDirectory) throws -> [Manifest] {
        try BackupctlTests.finalNames(dir.sub("backups")).filter { $0.hasPrefix("manifest_") }.sorted().map { name in
            try Manifest.decode(Array(try Data(contentsOf: URL(fileURLWithPath: dir.sub("backups/" + name)))), key: name)
        }
    }

    static func newestManifest(_ dir: TemporaryDirectory) throws -> Manifest {
        try #require(try manifests(dir).last)
    }

    static func index(of manifest: Manifest) throws -> ManifestArtifact {
        try #require(manifest.artifacts.first { $0.isIncrementalIndex })
    }

    static func detail(_ manifest: Manifest, _ key: String) throws -> Int64 {
        guard case .integer(let value)? = try index(of: manifest).details[key] else {
            Issue.record("no \(key) in \(try index(of: manifest).details)")
            return -1
        }
        return value
    }

    static func packsInSink(_ dir: TemporaryDirectory) -> Set<String> {
        Set(BackupctlTests.finalNames(dir.sub("backups")).filter { ArtifactName.isPack($0) })
    }

    /// A restore of `set` into a new directory must equal `expected` (names, types, contents, modes,
    /// mtimes, links) and keep the hard links.
    static func expectRestore(_ dir: TemporaryDirectory, set: SetTimestamp, equals expected: [String: TreeFixture.Node],
                              hardlinks: Set<Set<String>>, _ extra: [String] = []) throws {
        let target = "restored-\(set)"
        let restore = try backupctl(["restore", "--set", set.description, "--to", target] + extra, in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = TreeFixture.snapshot(dir.sub(target))
        #expect(restored.keys.sorted() == expected.keys.sorted(), "set \(set)")
        for (path, node) in expected where restored[path] != node {
            Issue.record("set \(set): \(path) restored as \(restored[path].map(\.description) ?? "missing"), expected \(node)")
        }
        #expect(TreeFixture.hardlinkGroups(dir.sub(target)) == hardlinks, "set \(set)")
    }

    /// Changes, deletes, renames, new files, a mode change and a link change between runs.
    static func mutate(_ root: String, step: Int) throws {
        try writeFile(root + "/step-\(step).txt", "new in step \(step)\n")
        try writeFile(root + "/plain.txt", "hello, changed in step \(step)\n")
        if step % 2 == 0 {
            try writeFile(root + "/data/blob.bin", pseudoRandomBytes(3 << 20, seed: UInt64(step)))
        }
        if step >= 2 {
            _ = unlink(root + "/step-\(step - 1).txt")
        }
        if step == 3 {
            rename(root + "/run.sh", root + "/renamed-run.sh")
            chmod(root + "/secret.env", 0o640)
            unlink(root + "/dangling-link")
            symlink("plain.txt", root + "/dangling-link")
        }
        if step == 5 {
            // The same content under a second name is stored once.
            try writeFile(root + "/data/blob-copy.bin", readFile(root + "/data/blob.bin") ?? [])
            try FileManager.default.removeItem(atPath: root + "/empty-dir")
        }
    }

    @Test func tenSetsWithChangesEveryKeptSetRestoresExactlyAndPruneLeavesNoUnreferencedPack() throws {
        let dir = try Self.workspace("inc-ten", retention: "keep_last: 4")
        defer { dir.remove() }
        var expected: [(SetTimestamp, [String: TreeFixture.Node], Set<Set<String>>)] = []
        for step in 1...10 {
            if step > 1 { try Self.mutate(dir.sub("data"), step: step) }
            let manifest = try Self.run(dir)
            expected.append((manifest.timestamp, TreeFixture.snapshot(dir.sub("data")), TreeFixture.hardlinkGroups(dir.sub("data"))))
        }
        let packsBefore = Self.packsInSink(dir)
        let prune = try backupctl(["prune"], in: dir.path)
        #expect(prune.status == 0, "\(prune.stderr)")
        let kept = try Self.manifests(dir)
        #expect(kept.map(\.timestamp) == expected.suffix(4).map(\.0))
        let named = Set(kept.flatMap { $0.artifacts.filter(\.isPack).map(\.name) })
        #expect(Self.packsInSink(dir) == named, "every pack in the sink is named by a kept set, and every named one is there")
        #expect(Self.packsInSink(dir).count < packsBefore.count, "packs only the deleted sets named were deleted")
        for (set, tree, links) in expected.suffix(4) {
            try Self.expectRestore(dir, set: set, equals: tree, hardlinks: links)
        }
        let verify = try backupctl(["verify", "--all"], in: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test func aSecondRunReadsOnlyWhatChangedAndStoresRepeatedContentOnce() throws {
        let dir = try Self.workspace("inc-second")
        defer { dir.remove() }
        let first = try Self.run(dir)
        #expect(try Self.detail(first, "reused_files") == 0)
        let files = try Self.detail(first, "files")

        // Nothing changed: nothing is read, no pack is written, the same packs are named.
        let unchanged = try Self.run(dir)
        #expect(try Self.detail(unchanged, "read_files") == 0)
        #expect(try Self.detail(unchanged, "new_packs") == 0)
        #expect(Set(unchanged.artifacts.filter(\.isPack).map(\.name)) == Set(first.artifacts.filter(\.isPack).map(\.name)))

        // One file changed and one copied: two are read, one new blob.
        try writeFile(dir.sub("data/plain.txt"), "changed\n")
        try writeFile(dir.sub("data/copy-of-blob.bin"), readFile(dir.sub("data/data/blob.bin")) ?? [])
        let changed = try Self.run(dir)
        #expect(try Self.detail(changed, "read_files") == 2)
        #expect(try Self.detail(changed, "new_blobs") == 1, "the copy's content is in the first pack already")
        #expect(try Self.detail(changed, "reused_files") == files - 1)
        let restore = try backupctl(["restore", "--to", "out"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TreeFixture.snapshot(dir.sub("out")) == TreeFixture.snapshot(dir.sub("data")))
    }

    @Test func pathRestoresPartOfAnIncrementalSetFromThePacksThatHoldIt() throws {
        let dir = try Self.workspace("inc-path")
        defer { dir.remove() }
        _ = try Self.run(dir)
        try writeFile(dir.sub("data/later/only.txt"), "only this\n")
        _ = try Self.run(dir)
        let restore = try backupctl(["restore", "--path", "later/**", "--to", "part"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(PartialRestoreTests.files(dir.sub("part")) == ["later/only.txt"])
        #expect(readFile(dir.sub("part/later/only.txt")) == Array("only this\n".utf8))
        let none = try backupctl(["restore", "--path", "nowhere/**", "--to", "none"], in: dir.path)
        #expect(none.status == 9, "\(none.stderr)")
    }

    @Test func pruneDeletesPacksNoManifestNamesAndKeepsTheOthers() throws {
        let dir = try Self.workspace("inc-orphans")
        defer { dir.remove() }
        let manifest = try Self.run(dir)
        // What a run killed before its manifest leaves: a pack no manifest names.
        let orphan = ArtifactName.pack(plan: "inc", source: "files", id: String(repeating: "ab", count: 16), fileExtension: "tar.gz")
        try writeFile(dir.sub("backups/" + orphan), "left by a killed run")
        let otherPlan = ArtifactName.pack(plan: "other", source: "files", id: String(repeating: "cd", count: 16), fileExtension: "tar.gz")
        try writeFile(dir.sub("backups/" + otherPlan), "another plan's")
        let prune = try backupctl(["prune"], in: dir.path)
        #expect(prune.status == 0, "\(prune.stderr)")
        #expect(Self.packsInSink(dir) == Set(manifest.artifacts.filter(\.isPack).map(\.name)).union([otherPlan]))
    }

    @Test func aDamagedPackFailsVerifyByNameAndTheNextRunStoresItsContentAgain() throws {
        let dir = try Self.workspace("inc-damage")
        defer { dir.remove() }
        let first = try Self.run(dir)
        let pack = try #require(first.artifacts.first { $0.isPack })
        let path = dir.sub("backups/" + pack.name)
        var bytes = try #require(readFile(path))
        bytes[bytes.count / 2] ^= 0xff
        try writeFile(path, bytes, mode: 0o600)
        let verify = try backupctl(["verify", "--all"], in: dir.path)
        #expect(verify.status == 3)
        #expect(verify.stdout.contains("pack \(pack.name) in sink 'local' is damaged or missing: it breaks set \(first.timestamp);"),
                "\(verify.stdout)\(verify.stderr)")

        // The next run takes nothing from the damaged pack: the new set is whole without it.
        let run = try backupctl(["run", "--no-prune"], in: dir.path)
        #expect(run.status == 0 && run.stderr.contains("damaged"), "\(run.stderr)")
        let second = try Self.newestManifest(dir)
        #expect(!second.artifacts.contains { $0.name == pack.name })
        #expect(try Self.detail(second, "reused_files") == 0, "every file was in the one damaged pack")
        let restore = try backupctl(["restore", "--to", "out"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TreeFixture.snapshot(dir.sub("out")) == TreeFixture.snapshot(dir.sub("data")))
        #expect(try backupctl(["verify", "--latest", "--read-data"], in: dir.path).status == 0)

        // Gone: the set that names it is not good, and says which pack it lacks.
        unlink(path)
        let list = try backupctl(["list"], in: dir.path)
        #expect(list.stdout.contains(pack.name), "the missing pack is named: \(list.stdout)")
    }

    @Test func aPackTheNewestSetUsesLessThanHalfOfIsRepackedAndThenDeleted() throws {
        let dir = try TemporaryDirectory("inc-repack")
        defer { dir.remove() }
        try writeFile(dir.sub("data/large.bin"), pseudoRandomBytes(3 << 20, seed: 1))
        try writeFile(dir.sub("data/kept.bin"), pseudoRandomBytes(1 << 20, seed: 2))
        try writeFile(dir.sub("backup.yml"), """
        name: inc
        sources:
          - { name: files, type: directory, path: ./data, mode: incremental }
        sinks:
          - { name: local, type: local, path: ./backups }
        retention: { keep_last: 1 }
        """)
        let first = try Self.run(dir)
        let sparse = try #require(first.artifacts.first { $0.isPack })
        unlink(dir.sub("data/large.bin"))
        let second = try Self.run(dir)
        #expect(second.artifacts.contains { $0.name == sparse.name }, "the second set still takes kept.bin from the first pack")
        #expect(try Self.index(of: second).packUsage[sparse.name] == 1 << 20)
        // The second set uses a quarter of that pack: the third stores kept.bin again, in a new pack.
        let third = try Self.run(dir, [])
        #expect(!third.artifacts.contains { $0.name == sparse.name })
        #expect(try Self.detail(third, "read_files") == 1)
        #expect(!Self.packsInSink(dir).contains(sparse.name), "retention deleted the sparse pack once no kept set named it")
        let restore = try backupctl(["restore", "--to", "out"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(readFile(dir.sub("out/kept.bin")) == pseudoRandomBytes(1 << 20, seed: 2))
    }

    @Test func theRestoreDrillRestoresASampleAndIsRecorded() throws {
        let dir = try Self.workspace("inc-drill")
        defer { dir.remove() }
        let manifest = try Self.run(dir)
        let drill = try backupctl(["verify", "--latest", "--restore-test"], in: dir.path)
        #expect(drill.status == 0, "\(drill.stdout)\(drill.stderr)")
        #expect(drill.stdout.contains("restore drill passed:") && drill.stdout.contains("every size, SHA-256 and mode matches the index"), "\(drill.stdout)")
        let recorded = try Self.newestManifest(dir)
        #expect(try Self.index(of: recorded).restoreTest?.passed == true, "the drill is recorded in the manifest")
        #expect(recorded.timestamp == manifest.timestamp)
    }

    @Test func anEncryptingSinkGetsEncryptedPacksThatRestoreAndArePruned() throws {
        let dir = try Self.workspace("inc-encrypted")
        defer { dir.remove() }
        let key = try backupctl(["key", "generate", "--output", "team.key"], in: dir.path)
        #expect(key.status == 0, "\(key.stderr)")
        try writeFile(dir.sub("recipients.txt"), key.stdout)
        try writeFile(dir.sub("backup.yml"), """
        name: inc
        sources:
          - { name: files, type: directory, path: ./data, mode: incremental }
        encryption:
          recipients_file: ./recipients.txt
        sinks:
          - { name: local, type: local, path: ./backups, encryption: none }
          - { name: vault, type: local, path: ./vault }
        retention: { keep_last: 1 }
        """)
        _ = try Self.run(dir)
        try Self.mutate(dir.sub("data"), step: 2)
        _ = try Self.run(dir)
        let vault = BackupctlTests.finalNames(dir.sub("vault"))
        let packs = vault.filter { ArtifactName.isPack($0) }
        #expect(!packs.isEmpty && packs.allSatisfy { $0.hasSuffix(".tar.gz.age") }, "\(vault)")
        let plainPacks = Set(BackupctlTests.finalNames(dir.sub("backups")).filter { ArtifactName.isPack($0) })
        #expect(Set(packs.map { String($0.dropLast(4)) }) == plainPacks, "the vault holds the same packs, encrypted")

        let restore = try backupctl(["restore", "--sink", "vault", "--identity", "team.key", "--to", "out"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TreeFixture.snapshot(dir.sub("out")) == TreeFixture.snapshot(dir.sub("data")))
        let verify = try backupctl(["verify", "--sink", "vault", "--identity", "team.key", "--read-data"], in: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        // Without the identity, prune still collects the vault's packs from the sealed manifests' names.
        try Self.mutate(dir.sub("data"), step: 4)
        _ = try Self.run(dir, [])
        let kept = Set(BackupctlTests.finalNames(dir.sub("vault")).filter { ArtifactName.isPack($0) }.map { String($0.dropLast(4)) })
        let named = Set(try Self.newestManifest(dir).artifacts.filter(\.isPack).map(\.name))
        #expect(kept == named, "only the packs the one kept set names remain in the vault")
    }
}

/// The index format on its own: lines, order and the trailer.
struct IndexFileTests {
    final class BytesReader: ChunkReader {
        var bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            let count = min(buffer.count, bytes.count, 7)  // small reads: lines cross chunk boundaries
            buffer.copyBytes(from: bytes.prefix(count))
            bytes.removeFirst(count)
            return count
        }
    }

    static func written(_ records: [IndexRecord]) throws -> [UInt8] {
        var out: [UInt8] = []
        let writer = try IndexFile.Writer(header: .init(source: "s", subject: "x", set: "20261207_000000", root: "/r"),
                                          output: { out += $0 })
        for record in records { try writer.add(record) }
        try writer.finish()
        return out
    }

    static func readAll(_ bytes: [UInt8]) throws -> [IndexRecord] {
        let reader = try IndexFile.Reader(input: BytesReader(bytes), name: "test.index")
        var records: [IndexRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    static let hash = String(repeating: "0f", count: 32)

    @Test func recordsWithAnyNameRoundTrip() throws {
        let records = [
            IndexRecord(path: "a", kind: .directory, mode: 0o755, modified: FileTime(seconds: 1, nanoseconds: 5)),
            IndexRecord(path: "a/\"quoted\" \\ back\tslash\u{1}", kind: .file, size: 3, modified: FileTime(seconds: -2, nanoseconds: 999_999_999),
                        inode: UInt64.max, hash: Self.hash, pack: "pack_p_s_0.tar.gz", entry: Self.hash),
            IndexRecord(path: RawPath(bytes: Array("a/caf".utf8) + [0xE9]), kind: .symlink, linkTarget: RawPath(bytes: [0xFF, 0x2F, 0x41])),
            IndexRecord(path: "a-b", kind: .hardlink, linkTarget: "a/x"),
            IndexRecord(path: "a-b/名前 🦄", kind: .directory),
        ]
        #expect(try Self.readAll(try Self.written(records)) == records)
    }

    @Test func treeOrderPutsADirectoryBeforeWhatItHoldsAndBeforeLongerSiblings() {
        #expect(TreeOrder.precedes("a", "a/x"))
        #expect(TreeOrder.precedes("a/x", "a-b"))
        #expect(TreeOrder.precedes("a/z", "ab"))
        #expect(!TreeOrder.precedes("a-b", "a/x"))
        #expect(TreeOrder.compare("a/b", "a/b") == 0)
    }

    @Test func aWriterRefusesPathsOutOfOrder() throws {
        #expect(throws: BackupError.self) { try Self.written([IndexRecord(path: "b", kind: .directory), IndexRecord(path: "a", kind: .directory)]) }
    }

    @Test func aCutShortOrPaddedIndexIsAnError() throws {
        let bytes = try Self.written([IndexRecord(path: "a", kind: .directory), IndexRecord(path: "b", kind: .directory)])
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        // Without its trailer.
        let cut = Array(lines[0..<3].joined(separator: [10])) + [10]
        #expect(throws: BackupError.self) { try Self.readAll(cut) }
        // Cut inside a line.
        #expect(throws: BackupError.self) { try Self.readAll(Array(bytes.dropLast(5))) }
        // A line removed: the trailer's count no longer matches.
        let missing = Array([lines[0], lines[2], lines[3]].joined(separator: [10])) + [10]
        #expect(throws: BackupError.self) { try Self.readAll(missing) }
        // The whole, for contrast.
        #expect(try Self.readAll(bytes).count == 2)
    }
}

/// `ls`, `find` and `diff` on an incremental source and a full one side by side.
struct SetBrowsingTests {
    static func workspace() throws -> (TemporaryDirectory, first: SetTimestamp, second: SetTimestamp) {
        let dir = try TemporaryDirectory("browse")
        for tree in ["inc", "full"] {
            try writeFile(dir.sub("\(tree)/plain.txt"), "hello\n")
            try writeFile(dir.sub("\(tree)/tenant-7/2024/invoice.pdf"), pseudoRandomBytes(5000))
            try writeFile(dir.sub("\(tree)/gone.txt"), "removed later\n")
        }
        try writeFile(dir.sub("backup.yml"), """
        name: browse
        sources:
          - { name: incremental, type: directory, path: ./inc, mode: incremental }
          - { name: full, type: directory, path: ./full }
        sinks:
          - { name: local, type: local, path: ./backups }
        retention: { keep_last: 10 }
        """)
        let first = try IncrementalSetTests.run(dir).timestamp
        for tree in ["inc", "full"] {
            try writeFile(dir.sub("\(tree)/plain.txt"), "hello, changed\n")
            try writeFile(dir.sub("\(tree)/tenant-7/2024/new.pdf"), pseudoRandomBytes(700, seed: 9))
            unlink(dir.sub("\(tree)/gone.txt"))
        }
        let second = try IncrementalSetTests.run(dir).timestamp
        return (dir, first, second)
    }

    @Test func lsFindAndDiffReadBothKindsOfSets() throws {
        let (dir, first, second) = try Self.workspace()
        defer { dir.remove() }
        let ls = try backupctl(["ls", first.description, "tenant-7/**"], in: dir.path)
        #expect(ls.status == 0, "\(ls.stderr)")
        let listed = ls.stdout.split(separator: "\n").map { String($0.split(separator: " ").last!) }
        #expect(listed.sorted() == ["full/tenant-7/2024", "full/tenant-7/2024/invoice.pdf", "incremental/tenant-7/2024", "incremental/tenant-7/2024/invoice.pdf"])
        let lsJSON = try backupctl(["ls", "--json", "--only", "incremental"], in: dir.path)
        #expect(try CommandOutputTests.violation(of: "ls", in: lsJSON.stdout) == nil, "\(lsJSON.stdout)")
        #expect(lsJSON.stdout.contains("new.pdf") && !lsJSON.stdout.contains("gone.txt"))
        #expect(try backupctl(["ls", "latest", "nothing/**"], in: dir.path).status == 9)

        let find = try backupctl(["find", "gone.txt"], in: dir.path)
        #expect(find.status == 0, "\(find.stderr)")
        #expect(find.stdout.split(separator: "\n").map { $0.hasPrefix(first.description) } == [true, true], "only the first set holds it: \(find.stdout)")
        let findJSON = try backupctl(["find", "*.pdf", "--json"], in: dir.path)
        #expect(try CommandOutputTests.violation(of: "find", in: findJSON.stdout) == nil, "\(findJSON.stdout)")
        #expect(findJSON.stdout.components(separatedBy: "\"invoice.pdf\"").count == 1 && findJSON.stdout.components(separatedBy: "invoice.pdf").count == 5,
                "invoice.pdf is in two sources of two sets: \(findJSON.stdout)")
        #expect(try backupctl(["find", "nowhere.txt"], in: dir.path).status == 9)

        let diff = try backupctl(["diff", first.description, second.description], in: dir.path)
        #expect(diff.status == 0, "\(diff.stderr)")
        let lines = Set(diff.stdout.split(separator: "\n").map(String.init))
        for source in ["incremental", "full"] {
            #expect(lines.contains("+ \(source)/tenant-7/2024/new.pdf"))
            #expect(lines.contains("- \(source)/gone.txt"))
            #expect(lines.contains("M \(source)/plain.txt"))
            #expect(!lines.contains("M \(source)/tenant-7/2024/invoice.pdf"), "unchanged content is not a change")
        }
        #expect(diff.stdout.contains("2 added, 2 removed"), "\(diff.stdout)")
        let diffJSON = try backupctl(["diff", first.description, "latest", "--json"], in: dir.path)
        #expect(try CommandOutputTests.violation(of: "diff", in: diffJSON.stdout) == nil, "\(diffJSON.stdout)")
    }
}

/// SIGKILL at random moments of incremental runs and of prunes: no set under a final name ever names a
/// pack the sink does not hold, and the next run and `verify --read-data` succeed.
struct IncrementalKillTests {
    /// Every pack each manifest in the sink names is there at its recorded size.
    static func expectEveryNamedPackPresent(_ dir: TemporaryDirectory, after what: String) throws {
        var sizes: [String: Int64] = [:]
        for name in BackupctlTests.finalNames(dir.sub("backups")) {
            var info = stat()
            if stat(dir.sub("backups/" + name), &info) == 0 { sizes[name] = Int64(info.st_size) }
        }
        for manifest in try IncrementalSetTests.manifests(dir) {
            for pack in manifest.artifacts where pack.isPack && sizes[pack.name] != pack.size {
                Issue.record("after \(what): set \(manifest.timestamp) names \(pack.name), which the sink holds at \(sizes[pack.name].map(String.init) ?? "no") size")
            }
        }
    }

    @Test func killedRunsAndPrunesNeverLeaveASetNamingAMissingPack() throws {
        let dir = try IncrementalSetTests.workspace("inc-kill", retention: "keep_last: 3")
        defer { dir.remove() }
        for index in 0..<6 {
            try writeFile(dir.sub("data/bulk/random-\(index).bin"), pseudoRandomBytes(2 << 20, seed: UInt64(index)))
            try writeFile(dir.sub("data/bulk/text-\(index).txt"), String(repeating: "line \(index) of text\n", count: 60_000))
        }
        let started = Date()
        _ = try IncrementalSetTests.run(dir)
        let duration = max(0.3, Date().timeIntervalSince(started))
        var generator = SeededGenerator(seed: 14)
        var killed = 0
        for round in 0..<30 {
            let isPrune = round >= 20
            if isPrune {
                // Sets to prune: two more runs, then a prune killed somewhere.
                for _ in 0..<2 {
                    try writeFile(dir.sub("data/bulk/prune-\(round).bin"), pseudoRandomBytes(1 << 20, seed: UInt64(100 + round)))
                    _ = try IncrementalSetTests.run(dir)
                }
            } else {
                try writeFile(dir.sub("data/bulk/random-\(round % 6).bin"), pseudoRandomBytes(2 << 20, seed: UInt64(1000 + round)))
                try writeFile(dir.sub("data/round-\(round).txt"), "round \(round)\n")
                unlink(dir.sub("data/round-\(round - 1).txt"))
            }
            let delay = Double.random(in: 0.02...(duration * 1.2), using: &generator)
            let command = isPrune ? ["prune"] : ["run", "--no-prune"]
            let result = try runProcess(backupctlPath, command + ["--config", dir.sub("backup.yml")], directory: dir.path, killAfter: delay)
            if result.status != 0 { killed += 1 }
            try Self.expectEveryNamedPackPresent(dir, after: "\(command[0]) killed after \(String(format: "%.2f", delay)) s")
            // The next run succeeds whatever the killed one left.
            let next = try backupctl(["run", "--no-prune"], in: dir.path)
            #expect(next.status == 0, "round \(round): \(next.stderr)")
        }
        #expect(killed >= 10, "most rounds were killed before they ended (\(killed) of 30)")
        let prune = try backupctl(["prune"], in: dir.path)
        #expect(prune.status == 0, "\(prune.stderr)")
        try Self.expectEveryNamedPackPresent(dir, after: "the last prune")
        let named = Set(try IncrementalSetTests.manifests(dir).flatMap { $0.artifacts.filter(\.isPack).map(\.name) })
        #expect(IncrementalSetTests.packsInSink(dir) == named, "the last prune left no pack that no set names")
        // Every set under a final name verifies, blobs included. (A run killed before its manifest leaves
        // an incomplete set that retention keeps for an hour, as it may be a run in progress: `verify
        // --all` rightly reports that one, so the sets with a manifest are verified one by one.)
        for manifest in try IncrementalSetTests.manifests(dir) {
            let verify = try backupctl(["verify", "--set", manifest.timestamp.description, "--read-data"], in: dir.path)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
        let restore = try backupctl(["restore", "--to", "out"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TreeFixture.snapshot(dir.sub("out")) == TreeFixture.snapshot(dir.sub("data")))
    }
}

/// The emergency path of docs/incremental-sets.md: scripts/restore-incremental restores a set from its
/// index and packs without backupctl.
struct EmergencyRestoreTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/restore-incremental").path

    @Test func theScriptRestoresASetExactlyWithoutBackupctl() throws {
        let dir = try IncrementalSetTests.workspace("inc-emergency")
        defer { dir.remove() }
        _ = try IncrementalSetTests.run(dir)
        try IncrementalSetTests.mutate(dir.sub("data"), step: 2)
        try IncrementalSetTests.mutate(dir.sub("data"), step: 3)
        let manifest = try IncrementalSetTests.run(dir)
        let index = try IncrementalSetTests.index(of: manifest)
        let result = try runProcess("/usr/bin/python3", [Self.script, dir.sub("backups/" + index.name), dir.sub("backups"), dir.sub("out")])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(TreeFixture.snapshot(dir.sub("out")) == TreeFixture.snapshot(dir.sub("data")))
        #expect(TreeFixture.hardlinkGroups(dir.sub("out")) == TreeFixture.hardlinkGroups(dir.sub("data")))

        // A missing pack is named; a cut index is refused.
        let pack = try #require(manifest.artifacts.first { $0.isPack })
        try FileManager.default.createDirectory(atPath: dir.sub("fewer"), withIntermediateDirectories: true)
        let missing = try runProcess("/usr/bin/python3", [Self.script, dir.sub("backups/" + index.name), dir.sub("fewer"), dir.sub("out2")])
        #expect(missing.status != 0 && missing.stderr.contains("pack_inc_files_") && missing.stderr.contains("is not in"), "\(missing.stderr)")
        let lines = try #require(try Self.gunzip(dir.sub("backups/" + index.name))).split(separator: 10, omittingEmptySubsequences: false)
        try writeFile(dir.sub("cut.index.jsonl"), Array(lines.dropLast(2).joined(separator: [10])) + [10])
        #expect(runProcess0("gzip", [dir.sub("cut.index.jsonl")]))
        let cut = try runProcess("/usr/bin/python3", [Self.script, dir.sub("cut.index.jsonl.gz"), dir.sub("backups"), dir.sub("out3")])
        #expect(cut.status != 0 && cut.stderr.contains("cut short"), "\(cut.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.sub("fewer/" + pack.name)))
    }

    static func gunzip(_ path: String) throws -> [UInt8]? {
        let result = try runProcess("/bin/sh", ["-c", "gzip -dc \"$0\" | base64 -w0", path])
        return result.status == 0 ? Data(base64Encoded: result.stdout).map(Array.init) : nil
    }
}

func runProcess0(_ program: String, _ arguments: [String]) -> Bool {
    (try? runProcess("/usr/bin/env", [program] + arguments))?.status == 0
}
