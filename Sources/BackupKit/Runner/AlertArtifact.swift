import Foundation

public struct AlertArtifact: Sendable, Codable, Hashable {
    public var name: String
    public var source: String
    public var size: Int64
    public var durationSeconds: Double

    public init(name: String, source: String, size: Int64, durationSeconds: Double) {
        self.name = name
        self.source = source
        self.size = size
        self.durationSeconds = durationSeconds
    }
}
