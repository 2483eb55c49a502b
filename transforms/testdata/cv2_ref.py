"""Reference outputs for the transforms tests, computed with OpenCV and numpy.

Usage: cv2_ref.py MODE DIR

DIR holds the inputs the Go test wrote (little-endian raw arrays) and
receives out.bin. Modes:

  warp          img.bin (N,H,W,3 uint8), mat.bin (N,2,3 float64) ->
                cv2.warpAffine(INTER_LINEAR, BORDER_REFLECT_101), uint8
  rgb2hsv       img.bin (N,3 uint8 pixels) -> cv2.COLOR_RGB2HSV, uint8
  hsv2rgb       img.bin (N,3 uint8 pixels) -> cv2.COLOR_HSV2RGB, uint8
  shift_hsv     img.bin (N,H,W,3), par.bin (N,3 float64 hue,sat,val) ->
                albumentations 1.4 _shift_hsv_uint8, uint8
  bright_contr  img.bin (N,H,W,3), par.bin (N,2 float64 alpha,beta) ->
                albumentations brightness_contrast_adjust(beta_by_max=True)
  normalize     img.bin (N,H,W,3) -> albumentations normalize with the
                CIFAR-10 mean/std, transposed to (N,3,H,W) float32
  crop          img.bin (N,H,W,3), par.bin (N,3 int64 padding,i,j) ->
                torchvision RandomCrop((H,W), padding, padding_mode="reflect")
                at top i, left j: np.pad(mode="reflect"), as torchvision pads
                PIL images, then the crop, uint8

The shape is given by the files hw.txt ("H W") where images are used.
"""
import os
import sys

import cv2
import numpy as np


def read_images(d):
    h, w = map(int, open(os.path.join(d, "hw.txt")).read().split())
    img = np.fromfile(os.path.join(d, "img.bin"), dtype=np.uint8)
    return img.reshape(-1, h, w, 3)


def shift_hsv(img, hue_shift, sat_shift, val_shift):
    # albumentations 1.4.x functional.shift_hsv for uint8 RGB images.
    if hue_shift == 0 and sat_shift == 0 and val_shift == 0:
        return img
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hue, sat, val = cv2.split(hsv)
    if hue_shift != 0:
        lut = np.mod(np.arange(0, 256, dtype=np.int16) + hue_shift, 180).astype(np.uint8)
        hue = cv2.LUT(hue, lut)
    if sat_shift != 0:
        lut = np.clip(np.arange(0, 256, dtype=np.int16) + sat_shift, 0, 255).astype(np.uint8)
        sat = cv2.LUT(sat, lut)
    if val_shift != 0:
        lut = np.clip(np.arange(0, 256, dtype=np.int16) + val_shift, 0, 255).astype(np.uint8)
        val = cv2.LUT(val, lut)
    out = cv2.merge((hue, sat, val)).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_HSV2RGB)


def brightness_contrast(img, alpha, beta):
    # albumentations 1.4.x brightness_contrast_adjust, uint8, beta_by_max=True:
    # a float32 lookup table, clipped and truncated to uint8.
    lut = np.arange(0, 256, dtype=np.float32) * np.float32(alpha) + np.float32(beta * 255)
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def normalize(img):
    mean = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32) * np.float32(255.0)
    std = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32) * np.float32(255.0)
    den = np.reciprocal(std, dtype=np.float32)
    out = img.astype(np.float32)
    out -= mean
    out *= den
    return out.transpose(0, 3, 1, 2)


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "warp":
        imgs = read_images(d)
        mats = np.fromfile(os.path.join(d, "mat.bin"), dtype="<f8").reshape(-1, 2, 3)
        h, w = imgs.shape[1:3]
        out = np.stack([
            cv2.warpAffine(im, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            for im, m in zip(imgs, mats)
        ])
    elif mode in ("rgb2hsv", "hsv2rgb"):
        px = np.fromfile(os.path.join(d, "img.bin"), dtype=np.uint8).reshape(1, -1, 3)
        code = cv2.COLOR_RGB2HSV if mode == "rgb2hsv" else cv2.COLOR_HSV2RGB
        out = cv2.cvtColor(px, code)
    elif mode == "shift_hsv":
        imgs = read_images(d)
        par = np.fromfile(os.path.join(d, "par.bin"), dtype="<f8").reshape(-1, 3)
        out = np.stack([shift_hsv(im, *p) for im, p in zip(imgs, par)])
    elif mode == "bright_contr":
        imgs = read_images(d)
        par = np.fromfile(os.path.join(d, "par.bin"), dtype="<f8").reshape(-1, 2)
        out = np.stack([brightness_contrast(im, *p) for im, p in zip(imgs, par)])
    elif mode == "crop":
        imgs = read_images(d)
        par = np.fromfile(os.path.join(d, "par.bin"), dtype="<i8").reshape(-1, 3)
        h, w = imgs.shape[1:3]
        out = np.stack([
            np.pad(im, ((p, p), (p, p), (0, 0)), mode="reflect")[i:i + h, j:j + w]
            for im, (p, i, j) in zip(imgs, par)
        ])
    elif mode == "normalize":
        out = normalize(read_images(d)).astype("<f4")
    else:
        sys.exit("unknown mode " + mode)
    np.ascontiguousarray(out).tofile(os.path.join(d, "out.bin"))


if __name__ == "__main__":
    main()
