import BackupKit
import BackupKitTesting
import BackupSinks
import Foundation
import Glibc
import Testing

/// The sftp sink against Debian's sshd on loopback.
@Suite(.serialized) struct SFTPTests {
    let servers: TestServers

    init() throws { servers = try TestServers.load() }

    func configuration(directory: String, knownHosts: String? = nil, acceptUnknown: Bool = false) throws -> SFTPSink.Configuration {
        let url = "sftp://\(try servers.value("BACKUPKIT_SFTP_USER"))@\(try servers.value("BACKUPKIT_SFTP_HOST")):\(try servers.value("BACKUPKIT_SFTP_PORT"))\(try servers.value("BACKUPKIT_SFTP_DIR"))/\(directory)"
        return SFTPSink.Configuration(url: url, privateKeyFile: try servers.value("BACKUPKIT_SFTP_KEY_FILE"),
                                      knownHostsFile: try knownHosts ?? servers.value("BACKUPKIT_SFTP_KNOWN_HOSTS"), acceptUnknownHost: acceptUnknown)
    }

    @Test func theSFTPSinkConforms() async throws {
        let configuration = try configuration(directory: "conform-\(UUID().uuidString.prefix(8))")
        let dir = try TemporaryDirectory("sftp-conform")
        defer { dir.remove() }
        try await SinkConformanceSuite(scratchDirectory: dir.sub("scratch"), largeArtifactSize: 64 << 20) {
            SFTPSink(name: "nas", configuration: configuration)
        }.run()
    }

    @Test func anUnknownHostIsRefusedUnlessThePlanAcceptsIt() async throws {
        let dir = try TemporaryDirectory("sftp-hostkey")
        defer { dir.remove() }
        try writeFile(dir.sub("empty_known_hosts"), "")
        try writeFile(dir.sub("a.bin"), pseudoRandomBytes(1000))
        let file = StagedFile(path: dir.sub("a.bin"), digest: FileDigest(size: 1000, sha256: ""))
        let refused = SFTPSink(name: "nas", configuration: try configuration(directory: "hostkey", knownHosts: dir.sub("empty_known_hosts")))
        do {
            try await refused.put("a_b_20240101_000000.tar.gz", from: file)
            Issue.record("an unknown host was accepted")
        } catch let error as BackupError {
            #expect(error.message.contains("host key"), "\(error.message)")
        }
        let accepted = SFTPSink(name: "nas", configuration: try configuration(directory: "hostkey", knownHosts: dir.sub("empty_known_hosts"), acceptUnknown: true))
        try await accepted.put("a_b_20240101_000000.tar.gz", from: file)
        #expect(try await accepted.list().map(\.key) == ["a_b_20240101_000000.tar.gz"])
        var info = stat()
        stat(try servers.value("BACKUPKIT_SFTP_DIR") + "/hostkey/a_b_20240101_000000.tar.gz", &info)
        #expect(info.st_mode & 0o777 == 0o600, "artifacts are private on the server too")
        try await accepted.delete("a_b_20240101_000000.tar.gz")
    }
}
