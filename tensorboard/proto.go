package tensorboard

import (
	"encoding/binary"
	"math"
)

// The protocol buffer messages below are encoded by hand, field by field in
// field-number order and leaving out proto3 default values, as the
// generated encoders do. Field numbers are those of TensorBoard's
// published schema (tensorboard/compat/proto: event.proto, summary.proto,
// tensor.proto, tensor_shape.proto, types.proto).

// Wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Event fields (event.proto).
const (
	eventWallTime    = 1 // double
	eventStep        = 2 // int64
	eventFileVersion = 3 // string, oneof what
	eventSummary     = 5 // Summary, oneof what
	eventSessionLog  = 7 // SessionLog, oneof what
)

// SessionLog fields and SessionStatus values (event.proto).
const (
	sessionLogStatus = 1 // SessionStatus
	sessionStart     = 1 // SessionLog.START
)

// Summary, Summary.Value and Summary.Image fields (summary.proto).
const (
	summaryValue = 1 // repeated Value

	valueTag         = 1 // string
	valueSimpleValue = 2 // float, oneof value
	valueImage       = 4 // Image, oneof value
	valueTensor      = 8 // TensorProto, oneof value
	valueMetadata    = 9 // SummaryMetadata

	imageHeight     = 1 // int32
	imageWidth      = 2 // int32
	imageColorspace = 3 // int32
	imageEncoded    = 4 // bytes

	metadataPluginData = 1 // SummaryMetadata.PluginData
	pluginName         = 1 // string
)

// TensorProto and TensorShapeProto fields, DataType values (tensor.proto,
// tensor_shape.proto, types.proto).
const (
	tensorDtype     = 1 // DataType
	tensorShape     = 2 // TensorShapeProto
	tensorStringVal = 8 // repeated bytes

	shapeDim = 2 // repeated Dim
	dimSize  = 1 // int64

	dtString = 7 // DT_STRING
)

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

// appendVarint appends a varint field unless v is 0 (the proto3 default).
// Negative int32 and int64 values take ten bytes, as in protobuf.
func appendVarint(b []byte, field int, v int64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(appendTag(b, field, wireVarint), uint64(v))
}

// appendBytes appends a length-delimited field (string, bytes or an
// embedded message) unless it is empty.
func appendBytes(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return appendMessage(b, field, v)
}

// appendMessage appends a length-delimited field even when v is empty, as
// a set embedded message or a repeated element is written.
func appendMessage(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(appendTag(b, field, wireBytes), uint64(len(v)))
	return append(b, v...)
}

func appendDouble(b []byte, field int, v float64) []byte {
	if v == 0 && !math.Signbit(v) {
		return b
	}
	return binary.LittleEndian.AppendUint64(appendTag(b, field, wireFixed64), math.Float64bits(v))
}

// appendFloat appends a float field; a oneof member is written even when
// it is 0, so that the reader sees which member is set.
func appendFloat(b []byte, field int, v float32) []byte {
	return binary.LittleEndian.AppendUint32(appendTag(b, field, wireFixed32), math.Float32bits(v))
}

// event encodes an Event with wall_time, step and one member of its what
// oneof (field what, payload body).
func event(wallTime float64, step int64, what int, body []byte) []byte {
	b := appendDouble(nil, eventWallTime, wallTime)
	b = appendVarint(b, eventStep, step)
	return appendMessage(b, what, body)
}

// fileVersionEvent is the Event that starts every event file.
func fileVersionEvent(wallTime float64, step int64) []byte {
	return event(wallTime, step, eventFileVersion, []byte(fileVersion))
}

// sessionStartEvent is an Event holding SessionLog{status: START}.
func sessionStartEvent(wallTime float64, step int64) []byte {
	return event(wallTime, step, eventSessionLog, appendVarint(nil, sessionLogStatus, sessionStart))
}

// summaryEvent is an Event holding a Summary with the one value v (an
// encoded Summary.Value).
func summaryEvent(wallTime float64, step int64, v []byte) []byte {
	return event(wallTime, step, eventSummary, appendMessage(nil, summaryValue, v))
}

// scalarValue encodes Summary.Value{tag, simple_value}, as add_scalar
// writes it.
func scalarValue(tag string, v float32) []byte {
	b := appendBytes(nil, valueTag, []byte(tag))
	return appendFloat(b, valueSimpleValue, v)
}

// imageValue encodes Summary.Value{tag, image: {height, width, colorspace,
// encoded_image_string}}, as add_image writes it.
func imageValue(tag string, height, width, colorspace int, encoded []byte) []byte {
	img := appendVarint(nil, imageHeight, int64(height))
	img = appendVarint(img, imageWidth, int64(width))
	img = appendVarint(img, imageColorspace, int64(colorspace))
	img = appendBytes(img, imageEncoded, encoded)
	b := appendBytes(nil, valueTag, []byte(tag))
	return appendMessage(b, valueImage, img)
}

// textValue encodes the Summary.Value add_text writes: a DT_STRING tensor
// of shape [1] holding text, with metadata naming the "text" plugin (whose
// content, TextPluginData{version: 0}, encodes to nothing).
func textValue(tag, text string) []byte {
	shape := appendMessage(nil, shapeDim, appendVarint(nil, dimSize, 1))
	tensor := appendVarint(nil, tensorDtype, dtString)
	tensor = appendMessage(tensor, tensorShape, shape)
	tensor = appendMessage(tensor, tensorStringVal, []byte(text))
	plugin := appendBytes(nil, pluginName, []byte("text"))
	meta := appendMessage(nil, metadataPluginData, plugin)
	b := appendBytes(nil, valueTag, []byte(tag))
	b = appendMessage(b, valueTensor, tensor)
	return appendMessage(b, valueMetadata, meta)
}
