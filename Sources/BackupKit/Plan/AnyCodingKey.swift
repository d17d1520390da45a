/// A coding key for any string, used to see every key a mapping holds.
package struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(_ string: String) { stringValue = string }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}
