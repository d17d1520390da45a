import BackupKit
@testable import BackupSources
import Foundation
import Glibc
import Testing

/// File names that are not UTF-8 (any bytes but `/` and NUL are a Linux name): backed up as their
/// bytes with a warning, and restored as the same bytes, never as U+FFFD.
@Suite struct RawNameTests {
    /// `caf\xE9.txt`: "café.txt" as a Latin-1 program writes it.
    static let latin1Name: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".txt".utf8)
    /// `dir\xFF`: a directory whose name is not UTF-8, with an ordinary name inside.
    static let rawDirectory: [UInt8] = Array("dir".utf8) + [0xFF]

    /// Every path under `root` as Python's os.walk sees it on bytes, one line each: the relative path's
    /// bytes in hex, the type, and the content or link target in hex. Independent of our own listing.
    static func rawTree(_ root: String) throws -> [String] {
        let script = """
        import os, sys
        root = os.fsencode(sys.argv[1])
        for top, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(top, name)
                if os.path.islink(path): kind, data = 'link', os.readlink(path)
                elif os.path.isdir(path): kind, data = 'dir', b''
                else: kind, data = 'file', open(path, 'rb').read()
                print(os.path.relpath(path, root).hex(), kind, data.hex())
        """
        let result = try runProcess("/usr/bin/python3", ["-c", script, root])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init).sorted()
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// `directory/name` as a C string, the name given as bytes (a Swift String cannot hold them).
    static func cPath(_ directory: String, _ name: [UInt8]) -> [CChar] {
        (Array((directory + "/").utf8) + name + [0]).map { CChar(bitPattern: $0) }
    }

    /// Writes `contents` at `directory/name`, the name given as bytes.
    static func writeRawFile(_ directory: String, _ name: [UInt8], _ contents: String) throws {
        let fd = open(cPath(directory, name), O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw BackupError(.io, "cannot create a file in \(directory)") }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw BackupError(.io, "cannot write in \(directory)") }
    }

    @Test func namesThatAreNotUTF8AreStoredReportedAndRestoredAsTheirBytes() throws {
        let dir = try BackupctlTests.workspace("rawnames")
        defer { dir.remove() }
        let data = dir.sub("data")
        try writeFile(data + "/café.txt", "valid UTF-8\n")
        try Self.writeRawFile(data, Self.latin1Name, "Latin-1\n")
        #expect(mkdir(Self.cPath(data, Self.rawDirectory), 0o755) == 0)
        try Self.writeRawFile(data, Self.rawDirectory + Array("/inner.txt".utf8), "inside\n")
        #expect(symlink(Self.latin1Name.map { CChar(bitPattern: $0) } + [0], data + "/link") == 0)
        let source = try Self.rawTree(data)
        #expect(source.count == 7 && source.contains { $0.hasPrefix(Self.hex(Self.latin1Name) + " file") }, "\(source)")

        let run = try backupctl(["run", "--json"], in: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let warnings = report?["warnings"] as? [String] ?? []
        #expect(warnings.count == 3, "one warning per name that is not UTF-8, none for the names below them: \(warnings)")
        #expect(warnings.contains { $0.contains("caf\\xE9.txt has a name that is not UTF-8") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("dir\\xFF has a name that is not UTF-8") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("the symlink link points at a name that is not UTF-8 (caf\\xE9.txt)") }, "\(warnings)")
        #expect(!warnings.joined().contains("\u{FFFD}"))

        let verify = try backupctl(["verify", "--latest"], in: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let restore = try backupctl(["restore", "--latest", "--only", "minio", "--to", "restored"], in: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Self.rawTree(dir.sub("restored")) == source)
        // Into the existing target, each entry is moved over the one with the same bytes.
        let again = try backupctl(["restore", "--latest", "--only", "minio", "--to", "restored", "--force"], in: dir.path)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Self.rawTree(dir.sub("restored")) == source)

        // Other tools read the archive and get the same bytes (GNU tar only notes that it does not know hdrcharset).
        let artifact = try #require(BackupctlTests.finalNames(dir.sub("backups")).first { $0.hasPrefix("minio_") })
        let path = dir.sub("backups/\(artifact)")
        #expect(try runProcess("/bin/gunzip", ["-t", path]).status == 0)
        let listing = try runProcess("/bin/tar", ["-tzf", path])
        #expect(listing.status == 0 && listing.stdout.split(separator: "\n").count == 7, "\(listing.stdout)\(listing.stderr)")
        try FileManager.default.createDirectory(atPath: dir.sub("gnu"), withIntermediateDirectories: true)
        let extract = try runProcess("/bin/tar", ["-xzf", path, "-C", dir.sub("gnu")])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try Self.rawTree(dir.sub("gnu")) == source)
    }

    @Test func anArchiveFromAnotherWriterRestoresTheSameBytes() async throws {
        let dir = try TemporaryDirectory("rawnames-python")
        defer { dir.remove() }
        // Python's tarfile writes names that are not UTF-8 with hdrcharset=BINARY, as libarchive does.
        let plan = try await RestoreSafetyTests.storeHostileSet(dir, script: """
        add('caf\\udce9.txt', b'Latin-1')
        add('dir\\udcff', type=tarfile.DIRTYPE, mode=0o755)
        add('dir\\udcff/inner.txt', b'inside')
        """)
        let target = dir.sub("target")
        _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(target)))
        let tree = try Self.rawTree(target)
        #expect(tree.contains("\(Self.hex(Self.latin1Name)) file \(Self.hex(Array("Latin-1".utf8)))"), "\(tree)")
        #expect(tree.contains("\(Self.hex(Self.rawDirectory + Array("/inner.txt".utf8))) file \(Self.hex(Array("inside".utf8)))"), "\(tree)")
        #expect(!tree.joined().contains("efbfbd"), "no name became U+FFFD: \(tree)")
    }

    @Test func writingThroughASymlinkWithARawNameIsRefused() async throws {
        let dir = try TemporaryDirectory("rawnames-link")
        defer { dir.remove() }
        let outside = dir.sub("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let plan = try await RestoreSafetyTests.storeHostileSet(
            dir, script: "add('l\\udcff', type=tarfile.SYMTYPE, linkname='\(outside)')\nadd('l\\udcff/planted.txt')")
        do {
            _ = try await Restorer(plan: plan, logger: testLogger).restore(.init(destination: .directory(dir.sub("target"))))
            Issue.record("an archive that writes through its own symlink was restored")
        } catch let error as BackupError {
            #expect(error.message.contains("'l\\xFF/planted.txt' would be written through the symlink 'l\\xFF'"), "\(error.message)")
        }
        #expect(try Self.rawTree(outside).isEmpty, "nothing was written through the symlink")
        #expect(try Self.rawTree(dir.sub("target")).isEmpty, "nothing was written at all")
    }

    @Test func aFilesSourceGlobMatchesANameThatIsNotUTF8() throws {
        let dir = try TemporaryDirectory("rawnames-files")
        defer { dir.remove() }
        try writeFile(dir.sub("café.txt"), "valid UTF-8\n")
        try Self.writeRawFile(dir.path, Self.latin1Name, "Latin-1\n")
        let writer = TreeArchiverTests.InterferingWriter()
        let warnings = TreeArchiverTests.Warnings()
        _ = try FilesSource(name: "config", configuration: .init(paths: [dir.sub("caf*")]))
            .write(SourceArtifact(subject: "s", content: .tree), to: writer, context: SourceContext(planName: "p", logger: testLogger, stagingDirectory: "/tmp", warn: { warnings.add($0) }))
        let prefix = Array(dir.path.utf8.dropFirst()) + Array("/".utf8)
        let sizes = Dictionary(uniqueKeysWithValues: writer.entries.map { ($0.path.bytes, $0.size) })
        #expect(sizes == [prefix + Self.latin1Name: 8, prefix + Array("café.txt".utf8): 12], "\(writer.entries.map(\.path))")
        #expect(warnings.items.count == 1 && warnings.items[0].contains("/caf\\xE9.txt has a name that is not UTF-8"), "\(warnings.items)")
    }

    @Test func messagesEscapeTheBytesThatAreNotUTF8() {
        #expect(RawPath(bytes: Self.latin1Name).description == "caf\\xE9.txt")
        #expect(RawPath(bytes: Self.latin1Name).string == nil)
        #expect(RawPath("café/名前.txt").description == "café/名前.txt")
        #expect(RawPath(bytes: Array("é".utf8) + [0xC3] + Array("/x".utf8)).description == "é\\xC3/x", "a cut-off character")
        let long = RawPath(bytes: [UInt8](repeating: 0xFF, count: 300))
        #expect(long.shortenedForMessage.count < 300 && long.shortenedForMessage.hasPrefix("\\xFF\\xFF"))
        #expect(GlobPattern("caf?.txt").matches(RawPath(bytes: Self.latin1Name), isDirectory: false))
        #expect(GlobPattern("dir?/**").matches(RawPath(bytes: Self.rawDirectory + Array("/inner.txt".utf8)), isDirectory: false))
    }
}
