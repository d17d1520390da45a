import Foundation

/// A source in a plan, with the settings that override the plan's for it.
public struct PlanSource: Sendable {
    public var source: any BackupSource
    public var archive: ArchiveSettings?
    public var verification: VerificationPolicy?

    public init(_ source: any BackupSource, archive: ArchiveSettings? = nil, verification: VerificationPolicy? = nil) {
        self.source = source
        self.archive = archive
        self.verification = verification
    }
}
