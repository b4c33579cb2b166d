import Testing
import TabulaWire

@Suite("JSON values")
struct JSONValueTests {
    @Test func roundTripKeepsIntegersExact() throws {
        let text = #"{"big":9007199254740993,"f":1.5,"list":[true,null,"x"],"nested":{"a":-1}}"#
        let value = try JSONValue(parsing: text)
        #expect(value["big"] == .integer(9_007_199_254_740_993))
        #expect(value["f"] == .number(1.5))
        #expect(value.encodedString == text)
    }

    @Test func encodingIsCanonical() throws {
        #expect(try JSONValue(parsing: #"{ "b": 1, "a": "/" }"#).encodedString == #"{"a":"/","b":1}"#)
    }

    @Test func malformedInputThrows() {
        #expect(throws: (any Error).self) { try JSONValue(parsing: "{\"a\":") }
        #expect(throws: (any Error).self) { try JSONValue(parsing: "") }
    }

    @Test func activationResponseShape() throws {
        let response = ActivationResponse(status: .applicationError, result: ["error": "nope"])
        #expect(response.jsonLine == #"{"status":"application error","success":false,"result":{"error":"nope"}}"#)
        #expect(!response.success)
        #expect(ActivationResponse.developerError("x").result == ["error": "x"])
    }
}
