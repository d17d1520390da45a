import Logging

/// One artifact a source will produce in a run.
public struct SourceArtifact: Sendable, Hashable {
    /// The second part of the artifact name: a database, a bucket, or the plan's `subject`.
    public var subject: String
    public var content: SourceContent
    /// What the source expects to write before compression, when it knows (for progress and space checks).
    public var expectedContentBytes: Int64?
    /// Facts recorded in the manifest beside the artifact, such as per-table row counts.
    public var details: [String: JSONValue]
    /// The compression this artifact must use whatever the plan says, such as `.none` for data that
    /// is already compressed (a `pg_dump -Fc` dump). Nil: the plan's.
    public var compression: Compression?

    public init(subject: String, content: SourceContent, expectedContentBytes: Int64? = nil, details: [String: JSONValue] = [:],
                compression: Compression? = nil) {
        self.subject = subject
        self.content = content
        self.expectedContentBytes = expectedContentBytes
        self.details = details
        self.compression = compression
    }
}
