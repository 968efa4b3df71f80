"""The shipping label (PDF, 100 × 150 mm, the courier's waybill as a Code 128 barcode) and the pickup code's QR code
(SVG), drawn with reportlab. Pure: an order in, bytes out.

The label is stuck on the outside of a parcel: it names the recipient and the pharmacy, never a medicine (what is
inside a parcel is nobody's business on the way). Chinese text uses reportlab's built-in STSong-Light CID font, so
nothing is embedded and no font file is needed.
"""
from __future__ import annotations

import io
from datetime import datetime

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode import code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from contracts.pharmacy.dispensing import Pharmacy
from services.pharmacy.orders.rules import OrderRecord
from wenzhen.timez import hospital_zone

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
WIDTH, HEIGHT = 100 * mm, 150 * mm


def mask_phone(phone: str) -> str:
    """138****5678: enough for the courier to call (the full number travels in the courier's order, not on paper)."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else phone


def label_pdf(order: OrderRecord, pharmacy: Pharmacy, now: datetime) -> bytes:
    d = order.delivery
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(WIDTH, HEIGHT), pageCompression=1)
    c.setTitle(f"Label {order.id}")
    c.setAuthor("Wenzhen pharmacy")
    c.setCreator("Wenzhen")
    y = HEIGHT - 10 * mm
    c.setFont(FONT, 14)
    c.drawString(6 * mm, y, "顺丰速运 · 医药配送")
    if order.waybill:
        barcode = code128.Code128(order.waybill, barHeight=14 * mm, barWidth=0.35 * mm)
        y -= 20 * mm
        barcode.drawOn(c, 6 * mm, y)
        c.setFont("Helvetica", 10)
        c.drawString(8 * mm, y - 4 * mm, f"Waybill {order.waybill}")
    else:
        y -= 12 * mm
        c.setFont(FONT, 10)
        c.drawString(6 * mm, y, "运单号待快递确认 (waybill pending)")
    y -= 12 * mm
    c.setFont(FONT, 10)
    c.drawString(6 * mm, y, "收件 To")
    c.setFont(FONT, 12)
    for line in (f"{d.recipient}  {mask_phone(d.phone)}", d.city, *_wrap(d.address, 22)):
        y -= 6 * mm
        c.drawString(8 * mm, y, line)
    y -= 10 * mm
    c.setFont(FONT, 10)
    c.drawString(6 * mm, y, "寄件 From")
    for line in (pharmacy.name, *_wrap(pharmacy.address, 26), pharmacy.phone):
        y -= 5 * mm
        c.drawString(8 * mm, y, line)
    y -= 10 * mm
    c.drawString(6 * mm, y, f"送达 {d.day.isoformat()} {d.window.value}")
    y -= 5 * mm
    c.drawString(6 * mm, y, f"订单 {order.id}")
    if any("cold_chain" in i.categories for i in order.items):
        y -= 7 * mm
        c.setFont(FONT, 12)
        c.drawString(6 * mm, y, "冷链 2–8 °C")
    qr = QrCodeWidget(order.id)
    x0, y0, x1, y1 = qr.getBounds()
    size = 24 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    drawing.drawOn(c, WIDTH - size - 6 * mm, 6 * mm)
    c.setFont(FONT, 7)
    c.drawString(6 * mm, 6 * mm, f"打印 {now.astimezone(hospital_zone()).strftime('%Y-%m-%d %H:%M')}")
    c.showPage()
    c.save()
    return out.getvalue()


def qr_svg(text: str, size_px: int = 240) -> bytes:
    qr = QrCodeWidget(text)
    x0, y0, x1, y1 = qr.getBounds()
    drawing = Drawing(size_px, size_px, transform=[size_px / (x1 - x0), 0, 0, size_px / (y1 - y0), 0, 0])
    drawing.add(qr)
    return renderSVG.drawToString(drawing).encode("utf-8")


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]
