import{h,j as g}from"./chunk-2WCV74XP.js";export{g as classHighlighter,h as highlightCode};
