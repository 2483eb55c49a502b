package ptfile

import "fmt"

// Pickle opcodes (see Python's pickletools for their definitions).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opNone           = 'N'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opBinFloat       = 'G'
	opAppend         = 'a'
	opAppends        = 'e'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opGet            = 'h'
	opLongGet        = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opPut            = 'q'
	opLongPut        = 'r'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opSetItem        = 's'
	opSetItems       = 'u'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortUnicode   = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

func opName(op byte) string {
	if op >= 0x20 && op < 0x7f {
		return fmt.Sprintf("%q", rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
}
