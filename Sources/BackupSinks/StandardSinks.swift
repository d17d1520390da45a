import BackupKit
import BackupTransport
import Foundation

extension PlanRegistry {
    /// Registers the `local`, `s3` and `sftp` sink types (SFTP inside a ``RetryingSink``), and for plans
    /// built from the environment: `BACKUP_DIR` (the sink `local`, default `./backups`) and
    /// `BACKUP_OFFSITE_S3_ENDPOINT` with `BACKUP_OFFSITE_S3_BUCKET` (the sink `offsite`; see
    /// ``S3Settings/environmentEntry(prefix:environment:bucket:)`` for the rest).
    public mutating func registerStandardSinks() {
        registerSink(type: S3Sink.typeName) { definition, decoder in
            S3Sink(name: definition.name, settings: try S3Settings(from: decoder, forUploads: true, alsoAllowed: PlanKeys.sink,
                                                                    baseDirectory: definition.baseDirectory),
                   environment: definition.environment)
        }
        registerSink(type: SFTPSink.typeName) { definition, decoder in
            // SFTP transfers break like any network transfer; the retrying wrapper tries them again.
            RetryingSink(SFTPSink(name: definition.name, configuration: try SFTPSink.Configuration(from: decoder, baseDirectory: definition.baseDirectory)))
        }
        registerSink(type: LocalSink.typeName) { definition, decoder in
            let configuration = try LocalSink.Configuration(from: decoder)
            let directory = definition.resolvePath(configuration.path)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyCodingKey("path")],
                                                        debugDescription: "\(directory) is a file, not a directory; give a directory for the backups"))
            }
            return LocalSink(name: definition.name, directory: directory)
        }
        addEnvironmentContribution(to: "sinks", reading: ["BACKUP_DIR"]) { environment in
            let path = environment["BACKUP_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./backups"
            return [.object(["name": .string("local"), "type": .string(LocalSink.typeName), "path": .string(path)])]
        }
        let offsite = "BACKUP_OFFSITE_S3_"
        addEnvironmentContribution(to: "sinks", reading: S3Settings.environmentVariables(prefix: offsite)) { environment in
            guard [offsite + "ENDPOINT", offsite + "BUCKET"].contains(where: { !(environment[$0] ?? "").isEmpty }) else { return [] }
            var sink = try S3Settings.environmentEntry(prefix: offsite, environment: environment)
            sink["name"] = .string("offsite")
            sink["type"] = .string(S3Sink.typeName)
            return [.object(sink)]
        }
    }
}
