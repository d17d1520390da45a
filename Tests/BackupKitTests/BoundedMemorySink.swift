import BackupKit
import BackupKitTesting
import BackupSinks
import Foundation
import Glibc

/// The sinks that promise bounded memory, as a value an exit test can capture: the child process
/// builds the sink itself.
enum BoundedMemorySink: String, Codable, Sendable, CaseIterable {
    case local
    /// Staging on another file system, so the local sink copies instead of linking.
    case localAcrossFileSystems
    case sftp
    case s3

    /// The conformance suite for this sink, with its scratch space and storage under `dir`.
    func suite(in dir: TemporaryDirectory) throws -> SinkConformanceSuite {
        switch self {
        case .local:
            return SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { LocalSink(directory: dir.sub("sink")) }
        case .localAcrossFileSystems:
            return SinkConformanceSuite(scratchDirectory: "/dev/shm/" + (dir.path as NSString).lastPathComponent) { LocalSink(directory: dir.sub("sink")) }
        case .sftp:
            let configuration = try SFTPTests().configuration(directory: "memory-\(UUID().uuidString.prefix(8))")
            return SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { SFTPSink(name: "nas", configuration: configuration) }
        case .s3:
            let s3 = try TestS3.load()
            let settings = s3.settings(bucket: try s3.makeBucket("memory"), prefix: "schedgen/", partSize: 16 << 20)
            return SinkConformanceSuite(scratchDirectory: dir.sub("scratch")) { S3Sink(name: "offsite", settings: settings, environment: [:]) }
        }
    }
}
