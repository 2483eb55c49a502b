package dataset

import (
	"image"
	"image/color"
)

// This file turns decoded images into packed HWC RGB bytes.
//
// image/jpeg hands back the raw YCbCr planes with the chroma planes still
// subsampled, and image.YCbCr's own conversion repeats each chroma sample over
// its 2x2 (or 2x1) block. libjpeg, which PIL, OpenCV and torchvision use, by
// default interpolates chroma instead ("fancy upsampling", a triangle filter)
// and converts with its own fixed-point tables. On the 4:2:0 JPEGs of the
// shared CIFAR-10 archive the two differ by 1.3 levels on average and up to
// 85 at colour edges, so the Go trainer would see other pixels than a PyTorch
// reference reading the same files. ycbcrToRGB
// therefore reimplements libjpeg's upsampling for the subsamplings JPEG
// encoders emit in practice (4:4:4, 4:2:2, 4:2:0) and libjpeg's YCbCr->RGB
// arithmetic; the remaining differences come from the inverse DCT only (see
// the PIL comparison in decode_test.go).

// libjpeg's YCbCr->RGB tables (jdcolor.c, build_ycc_rgb_table): 16-bit fixed
// point, the G terms summed before rounding.
var (
	crR [256]int32
	cbB [256]int32
	crG [256]int32
	cbG [256]int32
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i) - 128
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

func clamp8(v int32) byte {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}

// yccPixel writes the RGB value of one YCbCr sample triple to dst[0:3].
func yccPixel(dst []byte, y, cb, cr byte) {
	yy := int32(y)
	_ = dst[2]
	dst[0] = clamp8(yy + crR[cr])
	dst[1] = clamp8(yy + (cbG[cb]+crG[cr])>>16)
	dst[2] = clamp8(yy + cbB[cb])
}

// toRGB writes img as packed HWC RGB into dst, which must hold exactly
// Dx*Dy*3 bytes. Alpha, where present, is dropped without compositing, as
// PIL's Image.convert("RGB") does.
func toRGB(img image.Image, dst []byte) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.YCbCr:
		if m.Rect.Min == (image.Point{}) && ycbcrToRGB(m, dst) {
			return
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := dst[y*w*3 : (y+1)*w*3]
			for x, v := range row {
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		}
		return
	case *image.RGBA: // PNG's truecolour without alpha decodes to this
		if m.Opaque() {
			dropAlpha(dst, m.Pix, m.Stride, w, h)
			return
		}
	case *image.NRGBA:
		dropAlpha(dst, m.Pix, m.Stride, w, h)
		return
	}
	// Everything else (paletted, 16-bit, premultiplied RGBA, CMYK, rare
	// chroma subsamplings) goes through the color model, un-premultiplied.
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			dst[i], dst[i+1], dst[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
}

// ycbcrToRGB converts m the way libjpeg does with its default settings
// (do_fancy_upsampling on). It reports false, leaving dst untouched, for
// subsampling ratios it does not handle; those take the generic path.
func ycbcrToRGB(m *image.YCbCr, dst []byte) bool {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var hs, vs int // chroma subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	default:
		return false
	}
	// Chroma plane size as libjpeg sees it (downsampled_width/height).
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	if hs == 2 && cw <= 2 {
		// libjpeg falls back to plain replication for such narrow images.
		return false
	}
	// One output row at a time: upsample its Cb and Cr, then convert.
	buf := make([]byte, 2*cw*hs)
	cb, cr := buf[:cw*hs], buf[cw*hs:]
	sums := make([]int, cw)
	for y := range h {
		upsampleRow(cb, sums, m.Cb, m.CStride, y, cw, ch, hs, vs)
		upsampleRow(cr, sums, m.Cr, m.CStride, y, cw, ch, hs, vs)
		yrow := m.Y[y*m.YStride : y*m.YStride+w]
		out := dst[y*w*3 : (y+1)*w*3]
		cb, cr := cb[:w], cr[:w]
		for x, yv := range yrow {
			yccPixel(out[3*x:3*x+3:3*x+3], yv, cb[x], cr[x])
		}
	}
	return true
}

// upsampleRow computes row y of the full-resolution plane that the cw x ch
// plane src (row stride stride) subsampled by hs x vs stands for, into out
// (cw*hs samples; sums is scratch of cw ints). It uses libjpeg-turbo's fancy
// upsampling (jdsample.c): each output sample is 3/4 of its nearest input
// sample plus 1/4 of the next nearest, horizontally and/or vertically, with
// libjpeg's rounding biases and edge replication.
func upsampleRow(out []byte, sums []int, src []byte, stride, y, cw, ch, hs, vs int) {
	row := func(cy int) []byte { // input row, edges replicated
		cy = max(0, min(cy, ch-1))
		return src[cy*stride : cy*stride+cw]
	}
	switch {
	case hs == 1 && vs == 1:
		copy(out, row(y))
	case hs == 2 && vs == 1: // h2v1_fancy_upsample
		in := row(y)
		out[0] = in[0]
		out[1] = byte((int(in[0])*3 + int(in[1]) + 2) >> 2)
		for c := 1; c < cw-1; c++ {
			v := int(in[c]) * 3
			out[2*c] = byte((v + int(in[c-1]) + 1) >> 2)
			out[2*c+1] = byte((v + int(in[c+1]) + 2) >> 2)
		}
		l := cw - 1
		out[2*l] = byte((int(in[l])*3 + int(in[l-1]) + 1) >> 2)
		out[2*l+1] = in[l]
	case hs == 2 && vs == 2: // h2v2_fancy_upsample
		near, far := row(y/2), row(y/2+1) // odd rows: the next nearest is below
		if y%2 == 0 {
			far = row(y/2 - 1) // even rows: above
		}
		for c := range sums {
			sums[c] = int(near[c])*3 + int(far[c])
		}
		out[0] = byte((sums[0]*4 + 8) >> 4)
		out[1] = byte((sums[0]*3 + sums[1] + 7) >> 4)
		for c := 1; c < cw-1; c++ {
			out[2*c] = byte((sums[c]*3 + sums[c-1] + 8) >> 4)
			out[2*c+1] = byte((sums[c]*3 + sums[c+1] + 7) >> 4)
		}
		l := cw - 1
		out[2*l] = byte((sums[l]*3 + sums[l-1] + 8) >> 4)
		out[2*l+1] = byte((sums[l]*4 + 7) >> 4)
	default:
		panic("dataset: unsupported chroma subsampling") // guarded by ycbcrToRGB
	}
}

// dropAlpha copies the RGB bytes of w x h RGBA-ordered pixels (rows stride
// bytes apart) into dst as packed HWC RGB.
func dropAlpha(dst, pix []byte, stride, w, h int) {
	for y := range h {
		row := pix[y*stride : y*stride+w*4]
		out := dst[y*w*3 : (y+1)*w*3]
		for x := range w {
			out[3*x], out[3*x+1], out[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
}
