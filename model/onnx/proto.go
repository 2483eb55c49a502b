package onnx

import (
	"encoding/binary"
	"math"
)

// This file encodes the few messages of onnx.proto (proto2, ONNX 1.12) that
// a model needs, by hand: protobuf's wire format is varints, fixed 32-bit
// words and length-prefixed bytes. Field numbers are onnx.proto's.

// Wire types.
const (
	wireVarint = 0
	wireBytes  = 2
	wire32     = 5
)

// buf appends protobuf fields to a byte slice.
type buf struct{ b []byte }

func (p *buf) tag(field, wire int) { p.b = binary.AppendUvarint(p.b, uint64(field)<<3|uint64(wire)) }

// int64 writes a varint field (int32, int64 and enums alike; negative
// values take ten bytes, as protobuf encodes them).
func (p *buf) int64(field int, v int64) {
	p.tag(field, wireVarint)
	p.b = binary.AppendUvarint(p.b, uint64(v))
}

func (p *buf) float32(field int, v float32) {
	p.tag(field, wire32)
	p.b = binary.LittleEndian.AppendUint32(p.b, math.Float32bits(v))
}

func (p *buf) bytes(field int, v []byte) {
	p.tag(field, wireBytes)
	p.b = binary.AppendUvarint(p.b, uint64(len(v)))
	p.b = append(p.b, v...)
}

func (p *buf) string(field int, v string) { p.bytes(field, []byte(v)) }

// message writes a nested message built by f.
func (p *buf) message(field int, f func(*buf)) {
	var m buf
	f(&m)
	p.bytes(field, m.b)
}

// onnx.proto's field numbers, by message.
const (
	// ModelProto
	modelIRVersion       = 1
	modelOpsetImport     = 8
	modelProducerName    = 2
	modelProducerVersion = 3
	modelDomain          = 4
	modelVersion         = 5
	modelDocString       = 6
	modelGraph           = 7
	modelMetadataProps   = 14
	// OperatorSetIdProto
	opsetDomain  = 1
	opsetVersion = 2
	// StringStringEntryProto
	entryKey   = 1
	entryValue = 2
	// GraphProto
	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphDocString   = 10
	graphInput       = 11
	graphOutput      = 12
	// NodeProto
	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	// AttributeProto
	attrName = 1
	attrF    = 2
	attrI    = 3
	attrInts = 8
	attrType = 20
	// TensorProto
	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	// ValueInfoProto
	valueName = 1
	valueType = 2
	// TypeProto and TypeProto.Tensor
	typeTensor     = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

// AttributeProto.AttributeType and TensorProto.DataType values.
const (
	attrTypeFloat = 1
	attrTypeInt   = 2
	attrTypeInts  = 7
	dataFloat     = 1
)

func (a attr) encode(p *buf) {
	p.string(attrName, a.name)
	switch a.kind {
	case attrTypeFloat:
		p.float32(attrF, a.f)
	case attrTypeInt:
		p.int64(attrI, a.i)
	case attrTypeInts:
		// Unpacked, as proto2 writes a repeated field without [packed=true].
		for _, v := range a.ints {
			p.int64(attrInts, v)
		}
	}
	p.int64(attrType, int64(a.kind))
}

func (n *node) encode(p *buf) {
	for _, in := range n.inputs {
		p.string(nodeInput, in)
	}
	for _, out := range n.outputs {
		p.string(nodeOutput, out)
	}
	p.string(nodeName, n.name)
	p.string(nodeOpType, n.op)
	for _, a := range n.attrs {
		p.message(nodeAttribute, a.encode)
	}
}

// encode writes t as a float32 TensorProto with its values in raw_data
// (little-endian, as onnx.proto requires).
func (t *initializer) encode(p *buf) {
	for _, d := range t.dims {
		p.int64(tensorDims, d)
	}
	p.int64(tensorDataType, dataFloat)
	p.string(tensorName, t.name)
	raw := make([]byte, 0, 4*len(t.data))
	for _, v := range t.data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	p.bytes(tensorRawData, raw)
}

// encodeValueInfo writes a float32 tensor's ValueInfoProto; a negative
// dimension is the dynamic batch dimension, dim_param "batch".
func encodeValueInfo(p *buf, name string, shape []int64) {
	p.string(valueName, name)
	p.message(valueType, func(p *buf) {
		p.message(typeTensor, func(p *buf) {
			p.int64(tensorElemType, dataFloat)
			p.message(tensorShape, func(p *buf) {
				for _, d := range shape {
					p.message(shapeDim, func(p *buf) {
						if d < 0 {
							p.string(dimParam, BatchDim)
						} else {
							p.int64(dimValue, d)
						}
					})
				}
			})
		})
	})
}
