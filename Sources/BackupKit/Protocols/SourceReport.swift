import Logging

/// What a source tells the run once an artifact is written.
public struct SourceReport: Sendable {
    /// Facts added to the manifest beside the artifact, merged over those from ``SourceArtifact``.
    public var details: [String: JSONValue]

    public init(details: [String: JSONValue] = [:]) {
        self.details = details
    }
}
